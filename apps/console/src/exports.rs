//! Export: any filter (or a dataset release) as Quick, Draw! raw or simplified ndjson, PNG
//! rasters (the shared rasterizer), Sketch-RNN stroke-3 or Apache Parquet, written by the server in the background; progress
//! is polled and the finished file is downloaded (streamed) into a folder.

use inkset_egui_kit::tokens;
use std::path::PathBuf;

use inkset_protocol::api::{ExportFormat, ExportJob, ExportList, ExportStatus, StartExport};
use uuid::Uuid;

use crate::filters::FilterForm;
use crate::task::{Shared, Task};

/// Formats with their labels.
pub const FORMATS: [(ExportFormat, &str); 5] = [
    (ExportFormat::QuickdrawRaw, "Quick, Draw! raw ndjson"),
    (
        ExportFormat::QuickdrawSimplified,
        "Quick, Draw! simplified ndjson",
    ),
    (ExportFormat::Png, "PNG rasters (tar)"),
    (ExportFormat::Stroke3, "Sketch-RNN stroke-3 ndjson"),
    (ExportFormat::Parquet, "Apache Parquet"),
];

/// The export screen.
pub struct Exports {
    /// Which drawings.
    pub form: FilterForm,
    format: ExportFormat,
    raster_size: String,
    /// Where downloads go.
    pub folder: String,
    jobs: Vec<ExportJob>,
    list_task: Task<ExportList>,
    start_task: Task<ExportJob>,
    download_task: Task<(Uuid, PathBuf, u64)>,
    downloaded: Vec<(Uuid, PathBuf, u64)>,
    last_list: f64,
}

impl Default for Exports {
    fn default() -> Self {
        let folder = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("Downloads"))
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        Self {
            form: FilterForm::default(),
            format: ExportFormat::QuickdrawRaw,
            raster_size: "64".into(),
            folder: folder.display().to_string(),
            jobs: Vec::new(),
            list_task: Task::default(),
            start_task: Task::default(),
            download_task: Task::default(),
            downloaded: Vec::new(),
            last_list: f64::NEG_INFINITY,
        }
    }
}

impl Exports {
    /// Jobs as last fetched, newest first.
    pub fn jobs(&self) -> &[ExportJob] {
        &self.jobs
    }

    /// Files downloaded this session: job, path, bytes.
    pub fn downloaded(&self) -> &[(Uuid, PathBuf, u64)] {
        &self.downloaded
    }

    fn poll(&mut self, ui: &mut Shared, now: f64) {
        if let Some(l) = self.list_task.take(ui) {
            self.jobs = l.exports;
        }
        if let Some(j) = self.start_task.take(ui) {
            ui.notice = Some(format!("Export of {} drawings started", j.total));
            self.jobs.insert(0, j);
            self.last_list = f64::NEG_INFINITY;
        }
        if let Some(d) = self.download_task.take(ui) {
            ui.notice = Some(format!("Saved {} ({} bytes)", d.1.display(), d.2));
            self.downloaded.push(d);
        }
        let running = self.jobs.iter().any(|j| j.status == ExportStatus::Running);
        let every = if running { 0.5 } else { 10.0 };
        if !self.list_task.running() && now - self.last_list >= every {
            self.last_list = now;
            self.list_task.start(ui, |c| c.exports());
        }
    }

    /// Draws the screen.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let now = ui.input(|i| i.time);
        self.poll(shared, now);
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
        ui.heading("Export drawings");
        ui.label("Which drawings:");
        self.form.show(ui, "export", &shared.shapes, false);
        ui.horizontal(|ui| {
            ui.label("Format:");
            for (f, label) in FORMATS {
                ui.radio_value(&mut self.format, f, label);
            }
        });
        if self.format == ExportFormat::Png {
            ui.horizontal(|ui| {
                let l = ui.label("Raster size (px)");
                ui.add(egui::TextEdit::singleline(&mut self.raster_size).desired_width(50.0))
                    .labelled_by(l.id);
            });
        }
        ui.horizontal(|ui| {
            let l = ui.label("Save downloads to");
            ui.add(egui::TextEdit::singleline(&mut self.folder).desired_width(360.0))
                .labelled_by(l.id);
        });
        if ui.button("Start export").clicked() {
            let filter = self.form.filter();
            let size = if self.format == ExportFormat::Png {
                match self.raster_size.trim().parse::<u32>() {
                    Ok(s) if (8..=512).contains(&s) => Ok(Some(s)),
                    _ => Err(format!(
                        "Raster size (px): {:?} is not a whole number within 8..=512",
                        self.raster_size
                    )),
                }
            } else {
                Ok(None)
            };
            match (filter, size) {
                (Ok(filter), Ok(raster_size)) => {
                    let req = StartExport {
                        format: self.format,
                        filter,
                        raster_size,
                    };
                    self.start_task.start(shared, move |c| c.start_export(&req));
                }
                (Err(e), _) | (_, Err(e)) => shared.error = Some(e),
            }
        }
        ui.separator();
        ui.strong("Exports");
        let mut download: Option<(Uuid, String)> = None;
        egui::Grid::new("exports_grid")
            .striped(true)
            .show(ui, |ui| {
                for j in &self.jobs {
                    ui.label(&j.file_name);
                    match j.status {
                        ExportStatus::Running => {
                            let frac = if j.total == 0 {
                                0.0
                            } else {
                                j.done as f32 / j.total as f32
                            };
                            ui.add(
                                egui::ProgressBar::new(frac)
                                    .desired_width(200.0)
                                    .text(format!("{} / {}", j.done, j.total)),
                            );
                            ui.label("running");
                        }
                        ExportStatus::Completed => {
                            ui.label(format!(
                                "{} drawings, {} bytes",
                                j.done,
                                j.bytes.unwrap_or(0)
                            ));
                            if ui.button(format!("Download {}", j.file_name)).clicked() {
                                download = Some((j.id, j.file_name.clone()));
                            }
                        }
                        ExportStatus::Failed => {
                            ui.colored_label(
                                tokens::ERROR,
                                format!("failed: {}", j.error.clone().unwrap_or_default()),
                            );
                            ui.label("");
                        }
                    }
                    ui.label(inkset_protocol::quickdraw::format_timestamp_ms(
                        j.created_at,
                    ));
                    ui.end_row();
                }
            });
        if let Some((id, name)) = download {
            let path = PathBuf::from(self.folder.trim()).join(name);
            self.download_task.start(shared, move |c| {
                c.download_export(id, &path).map(|n| (id, path, n))
            });
        }
        for (_, path, n) in &self.downloaded {
            ui.label(format!("Saved {} ({n} bytes)", path.display()));
        }
    }
}
