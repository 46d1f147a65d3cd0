//! The Latency tab: per-stage cold and warm latency and the batch-size benchmark.

use egui_plot::{Line, Plot, PlotPoints};
use inkset_model::raster::Polyline;

use crate::latency::{Stage, millis};
use crate::worker::EngineCmd;

use super::*;

impl Workbench {
    // ---- Latency tab -----------------------------------------------------------------

    pub(super) fn latency_tab(&mut self, ui: &mut egui::Ui) {
        ui.heading("Single drawing (the Draw tab's calls)");
        if let Some(l) = &self.loaded {
            ui.label(format!("on {}", l.backend_label));
        }
        let s = &self.latency;
        match s.cold {
            Some(c) => {
                ui.label(format!(
                    "Cold (first call after loading): rasterize {:.2} ms, inference {:.2} ms, total {:.2} ms",
                    millis(c.rasterize),
                    millis(c.inference),
                    millis(c.rasterize + c.inference)
                ));
            }
            None => {
                ui.label("No call yet: draw something on the Draw tab.");
            }
        }
        ui.label(format!("Warm calls: {}", s.warm_count));
        egui::Grid::new("latency")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in ["stage (ms)", "last", "p50", "p95", "p99"] {
                    ui.strong(h);
                }
                ui.end_row();
                for (stage, summary) in &s.warm {
                    ui.label(stage.name());
                    match summary {
                        Some(x) => {
                            for v in [x.last, x.p50, x.p95, x.p99] {
                                ui.label(format!("{v:.3}"));
                            }
                        }
                        None => {
                            for _ in 0..4 {
                                ui.label("-");
                            }
                        }
                    }
                    ui.end_row();
                }
            });
        let _ = Stage::ALL;
        ui.separator();
        ui.heading("Benchmark");
        ui.horizontal(|ui| {
            ui.label("Drawings per batch size");
            ui.add(
                egui::DragValue::new(&mut self.bench_images)
                    .range(16..=100_000)
                    .speed(16),
            );
            if ui.button("Run benchmark").clicked() {
                let drawings = self.reference_drawings();
                let images = self.bench_images;
                self.send(EngineCmd::Benchmark { images, drawings }, "benchmark...");
            }
        });
        ui.label("Network only (rasters prepared first): batch sizes 1 to 256.");
        if !self.bench.is_empty() {
            egui::Grid::new("bench")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for h in ["batch", "drawings/s", "p50 ms/batch", "p99 ms/batch"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for b in &self.bench {
                        ui.label(b.batch.to_string());
                        ui.label(format!("{:.0}", b.throughput));
                        ui.label(format!("{:.3}", b.p50_ms));
                        ui.label(format!("{:.3}", b.p99_ms));
                        ui.end_row();
                    }
                });
            let tp: PlotPoints<'_> = self
                .bench
                .iter()
                .map(|b| [(b.batch as f64).log2(), b.throughput])
                .collect();
            let lat: PlotPoints<'_> = self
                .bench
                .iter()
                .map(|b| [(b.batch as f64).log2(), b.p50_ms])
                .collect();
            ui.columns(2, |c| {
                Plot::new("throughput")
                    .height(180.0)
                    .x_axis_label("log2 batch")
                    .y_axis_label("drawings/s")
                    .show(&mut c[0], |p| p.line(Line::new("throughput", tp)));
                Plot::new("latency_plot")
                    .height(180.0)
                    .x_axis_label("log2 batch")
                    .y_axis_label("p50 ms per batch")
                    .show(&mut c[1], |p| p.line(Line::new("p50", lat)));
            });
        }
        ui.separator();
        ui.heading("Parity: CPU vs wgpu");
        ui.label(
            "Runs both backends on the same rasters: the last evaluation's first 100 \
             drawings, else the canvas and the reference shapes.",
        );
        if ui.button("Run parity check").clicked() {
            let drawings = if self.eval.is_some() {
                Vec::new()
            } else {
                self.reference_drawings()
            };
            self.send(EngineCmd::Parity(drawings), "parity check...");
        }
        if let Some(p) = &self.parity {
            ui.label(format!(
                "{} inputs: same answer on {}; largest probability difference {:.3e} (input {})",
                p.count, p.same_answer, p.max_abs_diff, p.worst_input
            ));
        }
    }

    /// The canvas drawing (when any) and procedurally drawn reference shapes.
    pub(super) fn reference_drawings(&self) -> Vec<Vec<Polyline>> {
        let mut out = Vec::new();
        if !self.canvas.is_empty() {
            out.push(self.canvas.polylines());
        }
        out.extend(crate::shapes::reference());
        out
    }
}
