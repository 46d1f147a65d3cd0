//! Releases: versioned, immutable dataset releases. An admin cuts one from a filter with a
//! name and a description, reads its manifest (counts per class and source, quality, the
//! license) and its datasheet, compares it with another release (drawings added, removed
//! and kept per class), and exports it in any format from the Export screen.

use inkset_egui_kit::kv;
use inkset_protocol::api::{CutRelease, Release, ReleaseDiff, ReleaseList, ReleaseSummary};

use crate::filters::FilterForm;
use crate::task::{Shared, Task};

/// Seconds between list refreshes while the screen is shown.
const REFRESH_SECS: f64 = 10.0;

/// The releases screen.
#[derive(Default)]
pub struct Releases {
    /// The new release's name, as typed.
    pub name: String,
    /// Its description, as typed.
    pub description: String,
    /// Which drawings go in.
    pub form: FilterForm,
    list: Vec<ReleaseSummary>,
    list_task: Task<ReleaseList>,
    cut_task: Task<Release>,
    open_task: Task<Release>,
    open: Option<Release>,
    against: String,
    diff_task: Task<ReleaseDiff>,
    diff: Option<ReleaseDiff>,
    last_list: Option<f64>,
}

impl Releases {
    /// Releases as last fetched, newest first.
    pub fn list(&self) -> &[ReleaseSummary] {
        &self.list
    }

    /// The release shown.
    pub fn open(&self) -> Option<&Release> {
        self.open.as_ref()
    }

    /// The diff shown.
    pub fn diff(&self) -> Option<&ReleaseDiff> {
        self.diff.as_ref()
    }

    fn poll(&mut self, shared: &mut Shared, now: f64) {
        if let Some(l) = self.list_task.take(shared) {
            self.list = l.releases;
        }
        if let Some(r) = self.cut_task.take(shared) {
            shared.notice = Some(format!(
                "Release {} cut: {} drawings",
                r.manifest.name, r.manifest.drawing_count
            ));
            self.name.clear();
            self.description.clear();
            self.open = Some(r);
            self.diff = None;
            self.last_list = None;
        }
        if let Some(r) = self.open_task.take(shared) {
            self.open = Some(r);
            self.diff = None;
        }
        if let Some(d) = self.diff_task.take(shared) {
            self.diff = Some(d);
        }
        let due = self.last_list.is_none_or(|t| now - t >= REFRESH_SECS);
        if due && !self.list_task.running() {
            self.last_list = Some(now);
            self.list_task.start(shared, |c| c.releases());
        }
    }

    /// Draws the screen; returns the filter of a release the admin asked to export.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) -> Option<FilterForm> {
        let now = ui.input(|i| i.time);
        self.poll(shared, now);
        let mut export = None;
        egui::ScrollArea::vertical()
            .id_salt("releases_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Cut a release");
                ui.label(
                    "A release is an immutable snapshot of the drawings the filter matches now \
                     (ids and content hashes), with a manifest and a datasheet.",
                );
                ui.horizontal(|ui| {
                    let l = ui.label("Release name");
                    ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(200.0))
                        .labelled_by(l.id);
                    let l = ui.label("Description");
                    ui.add(egui::TextEdit::singleline(&mut self.description).desired_width(420.0))
                        .labelled_by(l.id);
                });
                self.form.show(ui, "release", &shared.shapes, false);
                if ui.button("Cut release").clicked() {
                    match self.form.filter() {
                        Ok(filter) => {
                            let req = CutRelease {
                                name: self.name.trim().to_owned(),
                                description: self.description.trim().to_owned(),
                                filter,
                            };
                            self.cut_task.start(shared, move |c| c.cut_release(&req));
                        }
                        Err(e) => shared.error = Some(e),
                    }
                }
                ui.separator();
                ui.heading("Releases");
                egui::Grid::new("releases_grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["Name", "Cut", "Drawings", "Per class", ""] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for r in &self.list {
                            ui.label(&r.name);
                            ui.label(inkset_protocol::quickdraw::format_timestamp_ms(
                                r.created_at,
                            ));
                            ui.label(r.drawing_count.to_string());
                            ui.label(
                                r.per_class
                                    .iter()
                                    .map(|(k, n)| format!("{k} {n}"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            );
                            if ui.button(format!("Open release {}", r.name)).clicked() {
                                let name = r.name.clone();
                                self.open_task
                                    .start(shared, move |c| c.dataset_release(&name));
                            }
                            ui.end_row();
                        }
                    });
                let Some(open) = &self.open else {
                    return;
                };
                let m = &open.manifest;
                ui.separator();
                ui.heading(format!("Release {}", m.name));
                let created = inkset_protocol::quickdraw::format_timestamp_ms(m.created_at);
                let per_source = m
                    .per_source
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mean = m
                    .quality
                    .mean
                    .map_or_else(|| "-".to_owned(), |q| format!("{q:.3}"));
                kv::grid(ui, "release_manifest", |rows| {
                    rows.row("Drawings", m.drawing_count.to_string());
                    rows.row("Cut", created);
                    rows.row("By", m.created_by.clone().unwrap_or_default());
                    rows.row("Sources", per_source);
                    rows.row("Mean quality", mean);
                    rows.row("Flagged at the cut", m.flagged.to_string());
                    rows.row("Sessions", m.sessions.to_string());
                    rows.row("License", m.license.clone());
                    rows.row("Drawings sha256", m.ids_sha256.clone());
                });
                ui.horizontal(|ui| {
                    if ui.button(format!("Export release {}", m.name)).clicked() {
                        export = Some(FilterForm {
                            release: m.name.clone(),
                            ..FilterForm::default()
                        });
                    }
                    let l = ui.label("Compare with");
                    egui::ComboBox::from_id_salt("release_against")
                        .selected_text(if self.against.is_empty() {
                            "pick a release"
                        } else {
                            &self.against
                        })
                        .show_ui(ui, |ui| {
                            for r in self.list.iter().filter(|r| r.name != m.name) {
                                ui.selectable_value(
                                    &mut self.against,
                                    r.name.clone(),
                                    format!("Against {}", r.name),
                                );
                            }
                        })
                        .response
                        .labelled_by(l.id);
                    if !self.against.is_empty() && ui.button("Compare").clicked() {
                        let (name, other) = (m.name.clone(), self.against.clone());
                        self.diff_task
                            .start(shared, move |c| c.release_diff(&name, &other));
                    }
                });
                if let Some(d) = &self.diff {
                    ui.label(format!(
                        "From {} to {}: {} added, {} removed, {} kept",
                        d.from, d.to, d.total.added, d.total.removed, d.total.kept
                    ));
                    egui::Grid::new("release_diff")
                        .striped(true)
                        .show(ui, |ui| {
                            for h in ["Class", "Added", "Removed", "Kept"] {
                                ui.strong(h);
                            }
                            ui.end_row();
                            for (class, c) in &d.per_class {
                                ui.label(class);
                                ui.label(format!("+{}", c.added));
                                ui.label(format!("-{}", c.removed));
                                ui.label(c.kept.to_string());
                                ui.end_row();
                            }
                        });
                }
                ui.collapsing("Datasheet", |ui| {
                    ui.add(
                        egui::Label::new(egui::RichText::new(&open.datasheet).monospace()).wrap(),
                    );
                });
            });
        export
    }
}
