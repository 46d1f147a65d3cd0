//! The Draw tab: a canvas classified live, the answer with its confidence, and saving test cases.

use egui::Vec2;
use inkset_model::raster::Polyline;
use inkset_protocol::quickdraw::{QdStroke, Record};

use crate::latency::millis;
use crate::worker::EngineCmd;

use super::*;

impl Workbench {
    // ---- Draw tab --------------------------------------------------------------------

    pub(super) fn classify_if_changed(&mut self) {
        if self.loaded.is_none() || self.in_flight.is_some() || self.busy.is_some() {
            return;
        }
        let rev = self.canvas.revision();
        if self.canvas.is_empty() || self.sent == Some(rev) {
            return;
        }
        self.in_flight = Some(rev);
        self.sent = Some(rev);
        let lines = self.canvas.polylines();
        if self
            .engine
            .send(EngineCmd::Classify {
                revision: rev,
                lines,
            })
            .is_err()
        {
            self.in_flight = None;
        }
    }

    pub(super) fn draw_tab(&mut self, ui: &mut egui::Ui) {
        if self.loaded.is_none() {
            ui.label("Load a model on the Model tab first.");
        }
        ui.horizontal(|ui| {
            if ui.button("Clear").clicked() {
                self.canvas.clear();
                self.result = None;
                self.refused = None;
            }
            if ui.button("Undo stroke").clicked() {
                self.canvas.undo();
            }
            if ui.button("Save drawing as test case").clicked() {
                let word = self
                    .classification()
                    .map_or_else(|| "unlabelled".to_owned(), |c| c.decision.label.clone());
                let lines = self.canvas.polylines();
                self.save_case(&word, None, &lines);
            }
        });
        ui.horizontal_top(|ui| {
            let side = ui.available_width().clamp(240.0, 420.0) * 0.95;
            self.canvas.show(ui, Vec2::splat(side));
            ui.vertical(|ui| self.answer_view(ui));
        });
    }

    pub(super) fn answer_view(&mut self, ui: &mut egui::Ui) {
        if let Some(r) = &self.refused {
            ui.label(format!("Not classified: {r}"));
        }
        let Some((_, c)) = &self.result else {
            if self.refused.is_none() {
                ui.label("Draw on the canvas: the answer updates as you draw.");
            }
            return;
        };
        let Some(l) = &self.loaded else { return };
        ui.heading(format!(
            "Answer: {} ({:.1} %)",
            c.decision.label,
            c.decision.confidence * 100.0
        ));
        ui.label(format!(
            "unknown below {:.0} % (the manifest's reject threshold)",
            l.manifest.unknown_threshold * 100.0
        ));
        let mut order: Vec<usize> = (0..c.probabilities.len()).collect();
        order.sort_by(|&a, &b| c.probabilities[b].total_cmp(&c.probabilities[a]));
        for (rank, &i) in order.iter().enumerate() {
            let p = c.probabilities[i];
            let class = l.manifest.classes.get(i).map_or("?", String::as_str);
            ui.add(egui::ProgressBar::new(p).desired_width(240.0).text(format!(
                "{}. {class} {:.1} %",
                rank + 1,
                p * 100.0
            )));
        }
        ui.label(format!(
            "rasterize {:.2} ms · inference {:.2} ms{}",
            millis(c.timing.rasterize),
            millis(c.timing.inference),
            if c.cold { " (cold)" } else { "" }
        ));
        let n = l.manifest.input.size;
        let texture = self.raster_texture.get_or_insert_with(|| {
            let pixels: Vec<u8> = c
                .raster
                .iter()
                .map(|v| 255 - (v.clamp(0.0, 1.0) * 255.0) as u8)
                .collect();
            ui.ctx().load_texture(
                "raster",
                egui::ColorImage::from_gray([n, n], &pixels),
                egui::TextureOptions::NEAREST,
            )
        });
        ui.label(format!("What the network sees ({n}x{n}):"));
        ui.add(egui::Image::new((texture.id(), Vec2::splat(128.0))));
    }

    pub(super) fn save_case(&mut self, word: &str, key_id: Option<u64>, lines: &[Polyline]) {
        if lines.iter().all(Vec::is_empty) {
            self.error = Some("nothing to save: the drawing is empty".into());
            return;
        }
        let key_id = key_id.unwrap_or_else(|| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for p in lines.iter().flatten() {
                for v in p {
                    h = (h ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3);
                }
            }
            h
        });
        let record = Record {
            word: word.to_owned(),
            countrycode: None,
            timestamp: None,
            recognized: None,
            key_id,
            drawing: lines
                .iter()
                .map(|l| QdStroke {
                    x: l.iter().map(|p| f64::from(p[0])).collect(),
                    y: l.iter().map(|p| f64::from(p[1])).collect(),
                    t: None,
                    float_form: Vec::new(),
                })
                .collect(),
            source: Some("inkset-workbench test case".into()),
        };
        let dir = self.cache.test_cases();
        let path = dir.join(format!("{word}-{key_id}.ndjson"));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, format!("{}\n", record.to_line())));
        match written {
            Ok(()) => self.notice = Some(format!("saved test case {}", path.display())),
            Err(e) => self.error = Some(format!("cannot write {}: {e}", path.display())),
        }
    }
}
