//! Inkset Console: the admin console for an `inkset-server` (egui/eframe).
//!
//! After signing in to a server URL with an admin account (the token is kept for the
//! session; an expired one returns to the form, saying so), nine screens:
//!
//! - **Dashboard** ([`dashboard`]): the dataset's statistics, refreshed live.
//! - **Browse** ([`browse`]): a virtualised thumbnail grid paged from the server, filters
//!   and sort, a detail view with replay, flag / unflag / remove one drawing or in bulk.
//! - **Review queue**: unflagged drawings, lowest quality first, keep or flag each.
//! - **Contributors** ([`contributors`]): players and anonymous sessions by quality and
//!   speed, junk marked for review, one contributor's drawings opened, flagged or removed.
//! - **Training** ([`training`]): the start dialog with the data plan, the live view.
//! - **Models** ([`models`]): metrics, comparison, activation, aliases and their history.
//! - **Releases** ([`releases`]): cut immutable dataset releases, read their manifest and
//!   datasheet, compare two, export one.
//! - **Export** ([`exports`]): background exports with progress and download.
//! - **Access** ([`access`]): accounts (disable, enable, revoke tokens) and worker tokens.
//!
//! [`Console::show`] draws everything into a `Ui`; the eframe app and the tests call it.

pub mod access;
pub mod browse;
pub mod contributors;
pub mod dashboard;
pub mod exports;
pub mod filters;
/// The stroke painter ([`inkset_egui_kit::ink`]).
pub use inkset_egui_kit::ink;
pub mod models;
pub mod releases;
pub mod scroll_bench;
pub mod task;
pub mod training;

use inkset_egui_kit::tokens;
use std::time::Duration;

use clap::Parser;
use inkset_protocol::api::AdminStats;

use crate::browse::{Browse, Mode};
use crate::task::{Busy, Shared, Task};
use inkset_client::ClientError;
use inkset_client::blocking::BlockingClient;

/// Signs in to `server` as an admin: a client that sends the new token.
///
/// # Errors
/// A URL that is not http(s), an unreachable server, or a 401 for a wrong name or password.
pub fn sign_in(
    server: &str,
    username: &str,
    password: &str,
) -> Result<BlockingClient, ClientError> {
    let client = inkset_client::Client::builder(server)
        .user_agent(concat!("inkset-console/", env!("CARGO_PKG_VERSION")))
        .build()?;
    BlockingClient::new(client)?
        .sign_in(username, password)
        .map(|(c, _)| c)
}

/// How often the dashboard asks for fresh numbers.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The console's screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Statistics.
    Dashboard,
    /// The drawing grid.
    Browse,
    /// Lowest quality first.
    Review,
    /// Contributor quality.
    Contributors,
    /// Start and watch jobs.
    Training,
    /// The registry.
    Models,
    /// Dataset releases.
    Releases,
    /// Background exports.
    Export,
    /// Accounts and worker tokens.
    Access,
}

/// Screens with their tab labels.
pub const SCREENS: [(Screen, &str); 9] = [
    (Screen::Dashboard, "Dashboard"),
    (Screen::Browse, "Browse"),
    (Screen::Review, "Review queue"),
    (Screen::Contributors, "Contributors"),
    (Screen::Training, "Training"),
    (Screen::Models, "Models"),
    (Screen::Releases, "Releases"),
    (Screen::Export, "Export"),
    (Screen::Access, "Access"),
];

/// The console's state.
pub struct Console {
    server: String,
    username: String,
    password: String,
    sign_in: Option<std::sync::mpsc::Receiver<Result<BlockingClient, ClientError>>>,
    shared: Option<Shared>,
    busy: Busy,
    login_error: Option<String>,
    screen: Screen,
    stats: Option<Box<AdminStats>>,
    stats_task: Task<AdminStats>,
    prompts: Option<inkset_protocol::api::PromptPlan>,
    prompts_task: Task<inkset_protocol::api::PromptPlan>,
    shapes_task: Task<Vec<inkset_protocol::api::ShapeInfo>>,
    auto_refresh: bool,
    last_refresh: Option<f64>,
    seen_generation: u64,
    /// Browse.
    pub browse: Browse,
    /// The review queue.
    pub review: Browse,
    /// Contributors.
    pub contributors: contributors::Contributors,
    /// Training.
    pub training: training::Training,
    /// Models.
    pub models: models::Models,
    /// Releases.
    pub releases: releases::Releases,
    /// Export.
    pub exports: exports::Exports,
    /// Access.
    pub access: access::Access,
}

impl Console {
    /// A console that will sign in to `server`.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            username: String::new(),
            password: String::new(),
            sign_in: None,
            shared: None,
            busy: Busy::default(),
            login_error: None,
            screen: Screen::Dashboard,
            stats: None,
            stats_task: Task::default(),
            prompts: None,
            prompts_task: Task::default(),
            shapes_task: Task::default(),
            auto_refresh: true,
            last_refresh: None,
            seen_generation: 0,
            browse: Browse::new(Mode::Browse),
            review: Browse::new(Mode::Review),
            contributors: contributors::Contributors::default(),
            training: training::Training::default(),
            models: models::Models::default(),
            releases: releases::Releases::default(),
            exports: exports::Exports::default(),
            access: access::Access::default(),
        }
    }

    /// A console already signed in with `client` (it takes the session on its first frame).
    pub fn with_session(client: BlockingClient) -> Self {
        let mut me = Self::new(client.base_url().to_owned());
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = tx.send(Ok(client));
        me.sign_in = Some(rx);
        me
    }

    /// Shows `screen`.
    pub fn open(&mut self, screen: Screen) {
        self.screen = screen;
    }

    /// The latest numbers, once loaded.
    pub fn stats(&self) -> Option<&AdminStats> {
        self.stats.as_deref()
    }

    /// The latest prompt plan, once loaded.
    pub fn prompt_plan(&self) -> Option<&inkset_protocol::api::PromptPlan> {
        self.prompts.as_ref()
    }

    /// Whether a session is held.
    pub fn signed_in(&self) -> bool {
        self.shared.is_some()
    }

    /// The error line.
    pub fn error(&self) -> Option<&str> {
        self.shared
            .as_ref()
            .and_then(|s| s.error.as_deref())
            .or(self.login_error.as_deref())
    }

    /// The latest confirmation line.
    pub fn notice(&self) -> Option<&str> {
        self.shared.as_ref().and_then(|s| s.notice.as_deref())
    }

    /// Whether a request is in flight.
    pub fn busy(&self) -> bool {
        self.busy.any() || self.sign_in.is_some()
    }

    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    fn refresh(&mut self, now: f64) {
        let Some(shared) = &self.shared else {
            return;
        };
        self.last_refresh = Some(now);
        self.stats_task.start(shared, |c| c.admin_stats());
        if !self.prompts_task.running() {
            self.prompts_task.start(shared, |c| c.prompt_plan());
        }
    }

    fn poll(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.sign_in
            && let Ok(result) = rx.try_recv()
        {
            self.sign_in = None;
            match result {
                Ok(client) => {
                    self.login_error = None;
                    self.shared = Some(Shared {
                        client,
                        ctx: ctx.clone(),
                        busy: self.busy.clone(),
                        error: None,
                        notice: None,
                        expired: false,
                        shapes: Vec::new(),
                        prompt_shapes: Vec::new(),
                        generation: 0,
                    });
                    self.last_refresh = None;
                    if let Some(shared) = &self.shared {
                        self.shapes_task.start(shared, |c| c.shapes());
                    }
                }
                Err(e) => self.login_error = Some(e.to_string()),
            }
        }
        let Some(shared) = &mut self.shared else {
            return;
        };
        if let Some(list) = self.shapes_task.take(shared) {
            shared.prompt_shapes = list
                .into_iter()
                .filter(|s| s.enabled)
                .map(|s| s.name)
                .collect();
        }
        if let Some(p) = self.prompts_task.take(shared) {
            self.prompts = Some(p);
        }
        if let Some(s) = self.stats_task.take(shared) {
            // Shapes first, then distractor words, for the pickers.
            shared.shapes = s.per_shape.keys().cloned().collect();
            self.stats = Some(Box::new(s));
        }
        if shared.generation != self.seen_generation {
            self.seen_generation = shared.generation;
            self.last_refresh = None;
        }
        if shared.expired {
            // The token expired: back to the sign-in form, saying so.
            self.login_error = shared.error.clone();
            self.shared = None;
            self.stats = None;
        }
    }

    /// Draws the console into `ui`.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        let now = ui.input(|i| i.time);
        if self.shared.is_some()
            && !self.stats_task.running()
            && (self.last_refresh.is_none()
                || (self.auto_refresh
                    && self
                        .last_refresh
                        .is_some_and(|t| now - t >= REFRESH.as_secs_f64())))
        {
            self.refresh(now);
        }
        if self.shared.is_some() {
            ctx.request_repaint_after(REFRESH);
        }
        egui::Panel::top("console_top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Inkset Console");
                if let Some(s) = &self.shared {
                    ui.separator();
                    ui.label(format!("Signed in to {}", s.client.base_url()));
                    if ui.button("Refresh now").clicked() {
                        self.refresh(now);
                    }
                    ui.checkbox(&mut self.auto_refresh, "Live (every 5 s)");
                    if ui.button("Sign out").clicked() {
                        self.shared = None;
                        self.stats = None;
                    }
                }
                if self.busy() {
                    ui.spinner();
                }
            });
            if self.shared.is_some() {
                ui.horizontal(|ui| {
                    for (screen, label) in SCREENS {
                        ui.selectable_value(&mut self.screen, screen, label);
                    }
                });
            }
            if let Some(e) = self.error() {
                ui.colored_label(tokens::ERROR, format!("Error: {e}"));
            }
            if let Some(n) = self.notice() {
                ui.colored_label(tokens::SUCCESS, n);
            }
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(shared) = &mut self.shared else {
                self.sign_in_form(ui, &ctx);
                return;
            };
            match self.screen {
                Screen::Dashboard => {
                    egui::ScrollArea::vertical()
                        .id_salt("dashboard_scroll")
                        .auto_shrink([false, false])
                        .show(ui, |ui| {
                            dashboard::show(ui, self.stats.as_deref());
                            if let Some(p) = &self.prompts {
                                dashboard::prompts(ui, p);
                            }
                        });
                }
                Screen::Browse => self.browse.show(ui, shared),
                Screen::Review => self.review.show(ui, shared),
                Screen::Contributors => {
                    if let Some(form) = self.contributors.show(ui, shared) {
                        self.browse.show_filter(form);
                        self.screen = Screen::Browse;
                    }
                }
                Screen::Training => self.training.show(ui, shared),
                Screen::Models => self.models.show(ui, shared),
                Screen::Releases => {
                    if let Some(form) = self.releases.show(ui, shared) {
                        self.exports.form = form;
                        self.screen = Screen::Export;
                    }
                }
                Screen::Export => self.exports.show(ui, shared),
                Screen::Access => self.access.show(ui, shared),
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
        if (ui.button("Sign in").clicked() || enter) && self.sign_in.is_none() {
            let (server, user, pass) = (
                self.server.clone(),
                self.username.clone(),
                std::mem::take(&mut self.password),
            );
            let (tx, rx) = std::sync::mpsc::channel();
            self.sign_in = Some(rx);
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(sign_in(&server, &user, &pass));
                ctx.request_repaint();
            });
        }
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
