//! The drawing filter form shared by Browse, the review queue, bulk curation and Export:
//! text fields and pickers that become an [`inkset_protocol::api::DrawingFilter`].

use inkset_protocol::api::{DrawingFilter, DrawingSort, Verdict};
use uuid::Uuid;

/// The form's fields as typed.
#[derive(Debug, Clone, Default)]
pub struct FilterForm {
    /// Shape or distractor word; empty for all.
    pub shape: String,
    /// `Some(true)`: flagged only; `Some(false)`: unflagged only.
    pub flagged: Option<bool>,
    /// Lowest quality, `0..=1`, as typed.
    pub quality_min: String,
    /// Highest quality, as typed.
    pub quality_max: String,
    /// First day, `YYYY-MM-DD` (UTC), as typed.
    pub from: String,
    /// Last day, inclusive, as typed.
    pub to: String,
    /// Session id, as typed.
    pub session: String,
    /// Player account id, as typed.
    pub player: String,
    /// Dataset release name, as typed (its drawings, removed ones included).
    pub release: String,
    /// `mouse`, `touch`, `pen`, `none`, or empty for any.
    pub device: String,
    /// The recognizer's verdict.
    pub verdict: Option<Verdict>,
    /// The order.
    pub sort: DrawingSort,
}

/// Sort orders with their labels.
pub const SORTS: [(DrawingSort, &str); 6] = [
    (DrawingSort::Newest, "Newest first"),
    (DrawingSort::Oldest, "Oldest first"),
    (DrawingSort::QualityAsc, "Quality, lowest first"),
    (DrawingSort::QualityDesc, "Quality, highest first"),
    (DrawingSort::ConfidenceAsc, "Confidence, lowest first"),
    (DrawingSort::ConfidenceDesc, "Confidence, highest first"),
];

fn sort_label(s: DrawingSort) -> &'static str {
    SORTS
        .iter()
        .find(|(k, _)| *k == s)
        .map_or("Newest first", |(_, l)| l)
}

/// `YYYY-MM-DD` to ms since the Unix epoch at 00:00 UTC.
fn day_ms(text: &str) -> Option<i64> {
    let mut it = text.trim().split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

impl FilterForm {
    /// The filter, or the name of the field that does not parse and why.
    ///
    /// # Errors
    /// `"Quality from: ..."` and similar, naming the form field.
    pub fn filter(&self) -> Result<DrawingFilter, String> {
        let quality = |label: &str, text: &str| -> Result<Option<f64>, String> {
            let t = text.trim();
            if t.is_empty() {
                return Ok(None);
            }
            match t.parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(Some(v)),
                _ => Err(format!("{label}: {t:?} is not a number within 0..=1")),
            }
        };
        let day = |label: &str, text: &str| -> Result<Option<i64>, String> {
            let t = text.trim();
            if t.is_empty() {
                return Ok(None);
            }
            day_ms(t)
                .map(Some)
                .ok_or_else(|| format!("{label}: {t:?} is not a date like 2026-11-29"))
        };
        let session = match self.session.trim() {
            "" => None,
            s => Some(
                Uuid::parse_str(s)
                    .map_err(|_| format!("Session id: {s:?} is not a session id (UUID)"))?,
            ),
        };
        let player = match self.player.trim() {
            "" => None,
            s => Some(
                Uuid::parse_str(s)
                    .map_err(|_| format!("Player id: {s:?} is not an account id (UUID)"))?,
            ),
        };
        let quality_min = quality("Quality from", &self.quality_min)?;
        let quality_max = quality("Quality to", &self.quality_max)?;
        if let (Some(a), Some(b)) = (quality_min, quality_max)
            && a > b
        {
            return Err("Quality to: must not be below Quality from".into());
        }
        Ok(DrawingFilter {
            shape: Some(self.shape.trim().to_owned()).filter(|s| !s.is_empty()),
            flagged: self.flagged,
            quality_min,
            quality_max,
            from: day("Received from", &self.from)?,
            // The whole last day.
            to: day("Received to", &self.to)?.map(|t| t + 86_400_000),
            session,
            player,
            release: Some(self.release.trim().to_owned()).filter(|s| !s.is_empty()),
            device: Some(self.device.clone()).filter(|s| !s.is_empty()),
            verdict: self.verdict,
            ..DrawingFilter::default()
        })
    }

    /// Draws the form; returns true when the user asked to apply it (button or Enter).
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        id: &str,
        shapes: &[String],
        with_sort: bool,
    ) -> bool {
        let mut apply = false;
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Shape");
            egui::ComboBox::from_id_salt(format!("{id}_shape"))
                .selected_text(if self.shape.is_empty() {
                    "All shapes"
                } else {
                    &self.shape
                })
                .show_ui(ui, |ui| {
                    apply |= ui
                        .selectable_value(&mut self.shape, String::new(), "All shapes")
                        .clicked();
                    for s in shapes {
                        apply |= ui
                            .selectable_value(&mut self.shape, s.clone(), format!("Shape {s}"))
                            .clicked();
                    }
                })
                .response
                .labelled_by(l.id);
            let text = |ui: &mut egui::Ui, label: &str, value: &mut String, width: f32| {
                let l = ui.label(label);
                let r = ui
                    .add(egui::TextEdit::singleline(value).desired_width(width))
                    .labelled_by(l.id);
                r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
            };
            apply |= text(ui, "Quality from", &mut self.quality_min, 40.0);
            apply |= text(ui, "Quality to", &mut self.quality_max, 40.0);
            apply |= text(ui, "Received from", &mut self.from, 80.0);
            apply |= text(ui, "Received to", &mut self.to, 80.0);
            apply |= text(ui, "Session id", &mut self.session, 120.0);
            apply |= text(ui, "Player id", &mut self.player, 120.0);
            apply |= text(ui, "Release", &mut self.release, 100.0);
            let flagged = match self.flagged {
                None => "Flagged or not",
                Some(true) => "Flagged only",
                Some(false) => "Unflagged only",
            };
            let l = ui.label("Flagged");
            egui::ComboBox::from_id_salt(format!("{id}_flagged"))
                .selected_text(flagged)
                .show_ui(ui, |ui| {
                    for (v, label) in [
                        (None, "Flagged or not"),
                        (Some(true), "Flagged only"),
                        (Some(false), "Unflagged only"),
                    ] {
                        apply |= ui.selectable_value(&mut self.flagged, v, label).clicked();
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("Device");
            egui::ComboBox::from_id_salt(format!("{id}_device"))
                .selected_text(if self.device.is_empty() {
                    "Any device"
                } else {
                    &self.device
                })
                .show_ui(ui, |ui| {
                    for (v, label) in [
                        ("", "Any device"),
                        ("mouse", "mouse"),
                        ("touch", "touch"),
                        ("pen", "pen"),
                        ("none", "none (imports)"),
                    ] {
                        apply |= ui
                            .selectable_value(&mut self.device, v.to_owned(), label)
                            .clicked();
                    }
                })
                .response
                .labelled_by(l.id);
            let verdict = match self.verdict {
                None => "Any verdict",
                Some(Verdict::Agrees) => "Model agrees",
                Some(Verdict::Disagrees) => "Model disagrees",
                Some(Verdict::Unjudged) => "Not judged",
            };
            let l = ui.label("Model verdict");
            egui::ComboBox::from_id_salt(format!("{id}_verdict"))
                .selected_text(verdict)
                .show_ui(ui, |ui| {
                    for (v, label) in [
                        (None, "Any verdict"),
                        (Some(Verdict::Agrees), "Model agrees"),
                        (Some(Verdict::Disagrees), "Model disagrees"),
                        (Some(Verdict::Unjudged), "Not judged"),
                    ] {
                        apply |= ui.selectable_value(&mut self.verdict, v, label).clicked();
                    }
                })
                .response
                .labelled_by(l.id);
            if with_sort {
                let l = ui.label("Sort");
                egui::ComboBox::from_id_salt(format!("{id}_sort"))
                    .selected_text(sort_label(self.sort))
                    .show_ui(ui, |ui| {
                        for (v, label) in SORTS {
                            apply |= ui.selectable_value(&mut self.sort, v, label).clicked();
                        }
                    })
                    .response
                    .labelled_by(l.id);
            }
            apply |= ui.button("Apply filters").clicked();
            if ui.button("Clear filters").clicked() {
                let sort = self.sort;
                *self = Self {
                    sort,
                    ..Self::default()
                };
                apply = true;
            }
        });
        apply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights() {
        assert_eq!(day_ms("1970-01-01"), Some(0));
        assert_eq!(day_ms("2026-11-29"), Some(1_795_910_400_000));
        assert_eq!(day_ms("2026-13-01"), None);
        assert_eq!(day_ms("yesterday"), None);
    }

    #[test]
    fn bad_fields_are_named() {
        let f = FilterForm {
            quality_min: "2".into(),
            ..FilterForm::default()
        };
        assert!(f.filter().unwrap_err().starts_with("Quality from"));
        let f = FilterForm {
            session: "abc".into(),
            ..FilterForm::default()
        };
        assert!(f.filter().unwrap_err().starts_with("Session id"));
        let f = FilterForm {
            shape: "circle".into(),
            quality_min: "0.5".into(),
            to: "2026-11-29".into(),
            ..FilterForm::default()
        };
        let filter = f.filter().unwrap();
        assert_eq!(filter.shape.as_deref(), Some("circle"));
        assert_eq!(filter.quality_min, Some(0.5));
        assert_eq!(filter.to, day_ms("2026-11-30"));
    }
}
