//! Inkset Console: the admin console for an `inkset-server` (egui/eframe).
//!
//! This first part is the sign-in and the live dashboard: drawings per shape, the quality
//! score histogram, drawings per day, flagged and removed counts, contributors, device and
//! pointer-type mix and the time from prompt to first point, all from
//! `GET /api/admin/stats`, refreshed every few seconds. Browsing, curation, training,
//! model comparison and export are to come (see the open issue).
//!
//! [`Console::show`] draws everything into a `Ui`; the eframe app and the tests call it.

pub mod client;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use clap::Parser;
use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
use inkset_protocol::api::AdminStats;

use crate::client::{AdminClient, ClientError};

/// How often the dashboard asks for fresh numbers.
pub const REFRESH: Duration = Duration::from_secs(5);

enum Msg {
    SignedIn(AdminClient),
    Stats(Box<AdminStats>),
    Failed(ClientError),
}

/// The console's state.
pub struct Console {
    server: String,
    username: String,
    password: String,
    session: Option<AdminClient>,
    stats: Option<Box<AdminStats>>,
    error: Option<String>,
    busy: bool,
    auto_refresh: bool,
    last_refresh: Option<f64>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

impl Console {
    /// A console that will sign in to `server`.
    pub fn new(server: impl Into<String>) -> Self {
        let (tx, rx) = channel();
        Self {
            server: server.into(),
            username: String::new(),
            password: String::new(),
            session: None,
            stats: None,
            error: None,
            busy: false,
            auto_refresh: true,
            last_refresh: None,
            tx,
            rx,
        }
    }

    /// The latest numbers, once loaded.
    pub fn stats(&self) -> Option<&AdminStats> {
        self.stats.as_deref()
    }

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    /// The error line.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether a request is in flight.
    pub fn busy(&self) -> bool {
        self.busy
    }

    fn spawn(&mut self, ctx: &egui::Context, f: impl FnOnce() -> Msg + Send + 'static) {
        self.busy = true;
        let (tx, ctx) = (self.tx.clone(), ctx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(f());
            ctx.request_repaint();
        });
    }

    fn refresh(&mut self, ctx: &egui::Context, now: f64) {
        let Some(s) = self.session.clone() else {
            return;
        };
        self.last_refresh = Some(now);
        self.spawn(ctx, move || match s.stats() {
            Ok(st) => Msg::Stats(Box::new(st)),
            Err(e) => Msg::Failed(e),
        });
    }

    fn drain(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            self.busy = false;
            match msg {
                Msg::SignedIn(c) => {
                    self.error = None;
                    self.session = Some(c);
                    self.last_refresh = None;
                }
                Msg::Stats(s) => {
                    self.error = None;
                    self.stats = Some(s);
                }
                Msg::Failed(e) => {
                    if e.is_unauthorized() && self.session.is_some() {
                        // The token expired: back to the sign-in form, saying so.
                        self.session = None;
                    }
                    self.error = Some(e.to_string());
                }
            }
        }
    }

    /// Draws the console into `ui`.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.drain();
        let ctx = ui.ctx().clone();
        let now = ui.input(|i| i.time);
        if self.session.is_some()
            && !self.busy
            && self.auto_refresh
            && self
                .last_refresh
                .is_none_or(|t| now - t >= REFRESH.as_secs_f64())
        {
            self.refresh(&ctx, now);
        }
        if self.session.is_some() {
            ctx.request_repaint_after(REFRESH);
        }
        egui::Panel::top("console_top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Inkset Console");
                if let Some(s) = &self.session {
                    ui.separator();
                    ui.label(format!("Signed in to {}", s.base()));
                    if ui.button("Refresh now").clicked() {
                        self.refresh(&ctx, now);
                    }
                    ui.checkbox(&mut self.auto_refresh, "Live (every 5 s)");
                    if ui.button("Sign out").clicked() {
                        self.session = None;
                        self.stats = None;
                    }
                }
                if self.busy {
                    ui.spinner();
                }
            });
            if let Some(e) = &self.error {
                ui.colored_label(Color32::from_rgb(0xc0, 0x20, 0x20), format!("Error: {e}"));
            }
        });
        egui::CentralPanel::default().show(ui, |ui| {
            if self.session.is_none() {
                self.sign_in_form(ui, &ctx);
            } else {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.dashboard(ui));
            }
        });
    }

    fn sign_in_form(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Sign in");
        egui::Grid::new("sign_in").num_columns(2).show(ui, |ui| {
            let l = ui.label("Server URL");
            ui.text_edit_singleline(&mut self.server).labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Username");
            ui.text_edit_singleline(&mut self.username)
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Password");
            ui.add(egui::TextEdit::singleline(&mut self.password).password(true))
                .labelled_by(l.id);
            ui.end_row();
        });
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Sign in").clicked() || enter) && !self.busy {
            let (server, user, pass) = (
                self.server.clone(),
                self.username.clone(),
                std::mem::take(&mut self.password),
            );
            self.spawn(ctx, move || {
                match AdminClient::sign_in(&server, &user, &pass) {
                    Ok(c) => Msg::SignedIn(c),
                    Err(e) => Msg::Failed(e),
                }
            });
        }
    }

    fn dashboard(&mut self, ui: &mut egui::Ui) {
        let Some(s) = self.stats.as_deref() else {
            ui.label("Loading the statistics...");
            return;
        };
        ui.horizontal_wrapped(|ui| {
            for text in [
                format!("Drawings: {}", s.total),
                format!("Flagged: {}", s.flagged),
                format!("Removed: {}", s.removed),
                format!("Contributing sessions: {}", s.contributing_sessions),
                format!("Signed-in players: {}", s.contributing_players),
                format!("Unscored: {}", s.quality.unscored),
            ] {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(RichText::new(text).strong());
                });
            }
        });
        ui.add_space(6.0);
        ui.columns(2, |c| {
            let shapes: Vec<(&String, &u64)> = s.per_shape.iter().collect();
            c[0].strong("Drawings per shape (flagged in red)");
            let kept: Vec<Bar> = shapes
                .iter()
                .enumerate()
                .map(|(i, (name, n))| {
                    let flagged = s.flagged_per_shape.get(*name).copied().unwrap_or(0);
                    Bar::new(i as f64, (**n).saturating_sub(flagged) as f64).name(name.as_str())
                })
                .collect();
            let flagged: Vec<Bar> = shapes
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    Bar::new(
                        i as f64,
                        s.flagged_per_shape.get(*name).copied().unwrap_or(0) as f64,
                    )
                    .name(name.as_str())
                })
                .collect();
            let kept = BarChart::new("kept", kept).color(Color32::from_rgb(0x3b, 0x82, 0xc4));
            let flagged = BarChart::new("flagged", flagged)
                .color(Color32::from_rgb(0xd0, 0x4a, 0x3a))
                .stack_on(&[&kept]);
            let names: Vec<String> = shapes.iter().map(|(n, _)| (*n).clone()).collect();
            Plot::new("per_shape")
                .height(200.0)
                .legend(Legend::default())
                .x_axis_formatter(move |m, _| {
                    let i = m.value.round();
                    if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                        names.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .show(&mut c[0], |p| {
                    p.bar_chart(kept);
                    p.bar_chart(flagged);
                });
            for (name, n) in &shapes {
                let flagged = s.flagged_per_shape.get(*name).copied().unwrap_or(0);
                c[0].label(format!("{name}: {n} (flagged {flagged})"));
            }
            c[1].strong("Quality score (0 to 1, 10 bins)");
            let bars: Vec<Bar> = s
                .quality
                .bins
                .iter()
                .enumerate()
                .map(|(i, n)| Bar::new(i as f64 * 0.1 + 0.05, *n as f64).width(0.09))
                .collect();
            Plot::new("quality")
                .height(200.0)
                .show(&mut c[1], |p| p.bar_chart(BarChart::new("drawings", bars)));
            c[1].label(format!(
                "Quality bins: {:?}; unscored {}",
                s.quality.bins, s.quality.unscored
            ));
        });
        ui.add_space(6.0);
        ui.columns(2, |c| {
            c[0].strong("Drawings received per day (UTC)");
            let days: Vec<String> = s.per_day.iter().map(|d| d.day.clone()).collect();
            let points: PlotPoints<'_> = s
                .per_day
                .iter()
                .enumerate()
                .map(|(i, d)| [i as f64, d.count as f64])
                .collect();
            Plot::new("per_day")
                .height(180.0)
                .x_axis_formatter(move |m, _| {
                    let i = m.value.round();
                    if (m.value - i).abs() < 1e-6 && i >= 0.0 {
                        days.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .show(&mut c[0], |p| p.line(Line::new("drawings", points)));
            if let Some(last) = s.per_day.last() {
                c[0].label(format!(
                    "{} days; last {}: {}",
                    s.per_day.len(),
                    last.day,
                    last.count
                ));
            }
            let t = &s.time_to_first_point;
            c[1].strong("Time from prompt to first point");
            let bars: Vec<Bar> = t
                .counts
                .iter()
                .enumerate()
                .map(|(i, n)| Bar::new(i as f64, *n as f64))
                .collect();
            Plot::new("first_point")
                .height(180.0)
                .show(&mut c[1], |p| p.bar_chart(BarChart::new("drawings", bars)));
            c[1].label(match (t.median_ms, t.p90_ms) {
                (Some(m), Some(p)) => format!("median {m} ms, p90 {p} ms"),
                _ => "no player drawings yet".into(),
            });
        });
        ui.add_space(6.0);
        ui.columns(2, |c| {
            c[0].strong("Input devices");
            for (k, v) in &s.per_device {
                c[0].label(format!("device {k}: {v}"));
            }
            c[1].strong("Reported pointer types");
            for (k, v) in &s.per_pointer_types {
                c[1].label(format!("pointer types {k}: {v}"));
            }
        });
    }
}

impl eframe::App for Console {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "inkset-console", version, about)]
pub struct Cli {
    /// Server URL.
    #[arg(long, env = "INKSET_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
}

/// Parses the command line and runs the window until it is closed.
///
/// # Errors
/// When no window can be opened.
pub fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("inkset_console=info,warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cli = Cli::parse();
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Inkset Console")
            .with_inner_size([1280.0, 860.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Inkset Console",
        native,
        Box::new(move |_cc| Ok(Box::new(Console::new(cli.server)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
