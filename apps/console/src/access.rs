//! Access: accounts and trainer tokens. An admin disables an account (it cannot sign in,
//! its login tokens and linked player sessions are revoked), enables it again, or revokes
//! its tokens without disabling it; creates a worker token for a GPU host (the secret is
//! shown once) and revokes one.

use inkset_egui_kit::tokens;
use inkset_protocol::api::{TokensRevoked, UserAccount};
use inkset_protocol::ml::WorkerToken;
use uuid::Uuid;

use crate::task::{Shared, Task};

/// Seconds between list refreshes while the screen is shown.
const REFRESH_SECS: f64 = 10.0;

/// The access screen.
#[derive(Default)]
pub struct Access {
    users: Vec<UserAccount>,
    workers: Vec<WorkerToken>,
    users_task: Task<Vec<UserAccount>>,
    workers_task: Task<Vec<WorkerToken>>,
    action_task: Task<TokensRevoked>,
    revoke_task: Task<Uuid>,
    create_task: Task<WorkerToken>,
    new_worker: String,
    /// The secret of the worker token created last (shown once).
    created: Option<WorkerToken>,
    last_list: Option<f64>,
}

/// What a button asked for this frame.
enum Action {
    Disable(String),
    Enable(String),
    Revoke(String),
    RevokeWorker(Uuid),
}

impl Access {
    /// Accounts as last fetched.
    pub fn users(&self) -> &[UserAccount] {
        &self.users
    }

    /// Worker tokens as last fetched, newest first.
    pub fn workers(&self) -> &[WorkerToken] {
        &self.workers
    }

    /// The worker token created last, with its secret.
    pub fn created(&self) -> Option<&WorkerToken> {
        self.created.as_ref()
    }

    fn poll(&mut self, shared: &mut Shared, now: f64) {
        if let Some(u) = self.users_task.take(shared) {
            self.users = u;
        }
        if let Some(w) = self.workers_task.take(shared) {
            self.workers = w;
        }
        if let Some(r) = self.action_task.take(shared) {
            shared.notice = Some(format!(
                "{}: {}; revoked {} login token(s) and {} session(s)",
                r.username,
                if r.disabled { "disabled" } else { "enabled" },
                r.tokens,
                r.sessions
            ));
            self.last_list = None;
        }
        if let Some(id) = self.revoke_task.take(shared) {
            shared.notice = Some(format!("Worker token {id} revoked"));
            self.last_list = None;
        }
        if let Some(t) = self.create_task.take(shared) {
            shared.notice = Some(format!("Worker token {:?} created", t.name));
            self.created = Some(t);
            self.last_list = None;
        }
        let due = self.last_list.is_none_or(|t| now - t >= REFRESH_SECS);
        if due && !self.users_task.running() && !self.workers_task.running() {
            self.last_list = Some(now);
            self.users_task.start(shared, |c| c.users());
            self.workers_task.start(shared, |c| c.worker_tokens());
        }
    }

    /// Draws the screen.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let now = ui.input(|i| i.time);
        self.poll(shared, now);
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
        let mut action = None;
        egui::ScrollArea::vertical()
            .id_salt("access_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Accounts");
                egui::Grid::new("users_grid").striped(true).show(ui, |ui| {
                    for h in ["Username", "Role", "State", "Tokens", "Sessions", "", ""] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for u in &self.users {
                        ui.label(&u.username);
                        ui.label(&u.role);
                        if u.disabled {
                            ui.colored_label(tokens::ERROR, "disabled");
                        } else {
                            ui.label("enabled");
                        }
                        ui.label(u.live_tokens.to_string());
                        ui.label(u.live_sessions.to_string());
                        if u.disabled {
                            if ui.button(format!("Enable {}", u.username)).clicked() {
                                action = Some(Action::Enable(u.username.clone()));
                            }
                        } else if ui.button(format!("Disable {}", u.username)).clicked() {
                            action = Some(Action::Disable(u.username.clone()));
                        }
                        if ui
                            .button(format!("Revoke tokens of {}", u.username))
                            .clicked()
                        {
                            action = Some(Action::Revoke(u.username.clone()));
                        }
                        ui.end_row();
                    }
                });
                ui.separator();
                ui.heading("Worker tokens");
                ui.horizontal(|ui| {
                    let l = ui.label("New worker token for host");
                    ui.add(egui::TextEdit::singleline(&mut self.new_worker).desired_width(200.0))
                        .labelled_by(l.id);
                    if ui.button("Create worker token").clicked() {
                        let name = self.new_worker.trim().to_owned();
                        if name.is_empty() {
                            shared.error =
                                Some("New worker token for host: give the host a name".into());
                        } else {
                            self.create_task
                                .start(shared, move |c| c.create_worker_token(&name));
                        }
                    }
                });
                if let Some(t) = &self.created {
                    ui.label(format!(
                        "Secret of {:?} (shown once; give it to `inkset-trainer work --token`):",
                        t.name
                    ));
                    let mut secret = t.token.clone().unwrap_or_default();
                    ui.add(egui::TextEdit::singleline(&mut secret).desired_width(480.0));
                }
                egui::Grid::new("workers_grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["Name", "Created", "Expires", "State", ""] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        let now_ms = now_ms();
                        for w in &self.workers {
                            ui.label(&w.name);
                            ui.label(inkset_protocol::quickdraw::format_timestamp_ms(
                                w.created_at,
                            ));
                            ui.label(w.expires_at.map_or_else(
                                || "never".to_owned(),
                                inkset_protocol::quickdraw::format_timestamp_ms,
                            ));
                            let live =
                                w.revoked_at.is_none() && w.expires_at.is_none_or(|e| e > now_ms);
                            if w.revoked_at.is_some() {
                                ui.label("revoked");
                            } else if live {
                                ui.label("live");
                            } else {
                                ui.label("expired");
                            }
                            if live && ui.button(format!("Revoke {}", w.name)).clicked() {
                                action = Some(Action::RevokeWorker(w.id));
                            }
                            ui.end_row();
                        }
                    });
            });
        match action {
            Some(Action::Disable(name)) => {
                self.action_task
                    .start(shared, move |c| c.disable_user(&name));
            }
            Some(Action::Enable(name)) => {
                self.action_task
                    .start(shared, move |c| c.enable_user(&name));
            }
            Some(Action::Revoke(name)) => {
                self.action_task
                    .start(shared, move |c| c.revoke_user_tokens(&name));
            }
            Some(Action::RevokeWorker(id)) => {
                self.revoke_task
                    .start(shared, move |c| c.revoke_worker_token(id).map(|()| id));
            }
            None => {}
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
