//! Contributors: every player account and anonymous session with its drawings, mean
//! quality score, share flagged, agreement with the production recognizer and speed
//! signals, sorted by any of them; those the server's junk detection marks for review stand
//! out with the reason. An admin opens a contributor's drawings in Browse, or flags or
//! removes all of them in one action after a confirmation that states the count.

use inkset_egui_kit::tokens;
use inkset_protocol::api::{
    BulkAction, BulkRequest, Contributor, ContributorKind, ContributorList, ContributorQuery,
    ContributorSort, DrawingFilter, ReviewReason, SortOrder,
};

use crate::filters::FilterForm;
use crate::task::{Shared, Task};

/// Contributors per page.
pub const PAGE: usize = 100;

/// Sort columns with their labels.
pub const SORTS: [(ContributorSort, &str); 7] = [
    (ContributorSort::Drawings, "Drawings"),
    (ContributorSort::MeanQuality, "Mean quality"),
    (ContributorSort::FlaggedShare, "Share flagged"),
    (ContributorSort::ModelAgreement, "Model agreement"),
    (ContributorSort::DrawingsPerMinute, "Drawings per minute"),
    (ContributorSort::TimeToFirstPoint, "Time to first point"),
    (ContributorSort::LastDrawn, "Last drawing"),
];

/// A bulk action waiting for the admin's confirmation.
#[derive(Debug, Clone)]
struct Confirm {
    action: BulkAction,
    name: String,
    filter: DrawingFilter,
    /// The server's count for the filter, once known.
    count: Option<u64>,
}

/// The contributors screen.
#[derive(Default)]
pub struct Contributors {
    /// The query of the list shown (kind, order, marked only, page).
    pub query: ContributorQuery,
    list: Option<ContributorList>,
    list_task: Task<ContributorList>,
    loaded_for: Option<(ContributorQuery, u64)>,
    confirm: Option<Confirm>,
    count_task: Task<u64>,
    curate_task: Task<(BulkAction, u64, String)>,
}

/// The name a contributor goes by on screen: the username, or `session` and the id's first
/// 8 digits.
pub fn display_name(c: &Contributor) -> String {
    match (&c.username, c.kind) {
        (Some(u), _) => u.clone(),
        (None, ContributorKind::Player) => format!("player {}", &c.id.to_string()[..8]),
        (None, ContributorKind::Session) => format!("session {}", &c.id.to_string()[..8]),
    }
}

/// The drawings of `c` as a browse filter.
pub fn filter_of(c: &Contributor) -> FilterForm {
    let mut form = FilterForm::default();
    match c.kind {
        ContributorKind::Player => form.player = c.id.to_string(),
        ContributorKind::Session => form.session = c.id.to_string(),
    }
    form
}

/// One line per reason, e.g. "fast and low quality: 24.0 drawings/min, mean quality 0.12".
pub fn review_text(reasons: &[ReviewReason]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            ReviewReason::FastAndLowQuality {
                drawings_per_minute,
                mean_quality,
            } => format!(
                "fast and low quality: {drawings_per_minute:.1} drawings/min, mean quality \
                 {mean_quality:.2}"
            ),
            ReviewReason::MostlyFlagged { flagged_share } => {
                format!("mostly flagged: {:.0} %", flagged_share * 100.0)
            }
            ReviewReason::ModelDisagrees { model_agreement } => {
                format!("model rarely agrees: {:.0} %", model_agreement * 100.0)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

impl Contributors {
    /// The page shown, once loaded.
    pub fn list(&self) -> Option<&ContributorList> {
        self.list.as_ref()
    }

    /// The confirmation's question while one is open, e.g. "Flag all 12 drawings of
    /// session 1a2b3c4d?".
    pub fn confirmation(&self) -> Option<String> {
        let c = self.confirm.as_ref()?;
        Some(question(c))
    }

    fn poll(&mut self, shared: &mut Shared) {
        if let Some(list) = self.list_task.take(shared) {
            self.list = Some(list);
        }
        if let Some(n) = self.count_task.take(shared)
            && let Some(c) = &mut self.confirm
        {
            c.count = Some(n);
        }
        if let Some((action, n, name)) = self.curate_task.take(shared) {
            let verb = match action {
                BulkAction::Flag => "Flagged",
                BulkAction::Unflag => "Unflagged",
                BulkAction::Remove => "Removed",
            };
            shared.notice = Some(format!("{verb} {n} drawings of {name}"));
            shared.generation += 1;
        }
        let want = (self.query.clone(), shared.generation);
        if self.loaded_for.as_ref() != Some(&want) && !self.list_task.running() {
            let mut q = self.query.clone();
            q.limit = Some(PAGE);
            self.list_task.start(shared, move |c| c.contributors(&q));
            self.loaded_for = Some(want);
        }
    }

    /// Draws the screen; returns a contributor's drawings when the admin asked to open them
    /// in Browse.
    pub fn show(&mut self, ui: &mut egui::Ui, shared: &mut Shared) -> Option<FilterForm> {
        self.poll(shared);
        let mut open = None;
        ui.heading("Contributors");
        ui.horizontal_wrapped(|ui| {
            let kind = match self.query.kind {
                None => "Players and sessions",
                Some(ContributorKind::Player) => "Players only",
                Some(ContributorKind::Session) => "Anonymous sessions only",
            };
            let l = ui.label("Who");
            egui::ComboBox::from_id_salt("contributors_kind")
                .selected_text(kind)
                .show_ui(ui, |ui| {
                    for (v, label) in [
                        (None, "Players and sessions"),
                        (Some(ContributorKind::Player), "Players only"),
                        (Some(ContributorKind::Session), "Anonymous sessions only"),
                    ] {
                        ui.selectable_value(&mut self.query.kind, v, label);
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("Sort by");
            let sort = SORTS
                .iter()
                .find(|(k, _)| *k == self.query.sort)
                .map_or("Drawings", |(_, l)| l);
            egui::ComboBox::from_id_salt("contributors_sort")
                .selected_text(sort)
                .show_ui(ui, |ui| {
                    for (v, label) in SORTS {
                        ui.selectable_value(&mut self.query.sort, v, format!("Sort by {label}"));
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("Order");
            egui::ComboBox::from_id_salt("contributors_order")
                .selected_text(match self.query.order {
                    SortOrder::Desc => "Largest first",
                    SortOrder::Asc => "Smallest first",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.query.order, SortOrder::Desc, "Largest first");
                    ui.selectable_value(&mut self.query.order, SortOrder::Asc, "Smallest first");
                })
                .response
                .labelled_by(l.id);
            ui.checkbox(&mut self.query.marked, "Marked for review only");
            if ui.button("Reload contributors").clicked() {
                self.loaded_for = None;
            }
        });
        let Some(list) = &self.list else {
            ui.label("Loading contributors...");
            return None;
        };
        let offset = self.query.offset.unwrap_or(0);
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} contributors, {} marked for review",
                list.total, list.marked_for_review
            ));
            if offset > 0 && ui.button("Previous page").clicked() {
                self.query.offset = Some(offset.saturating_sub(PAGE as u64));
            }
            if offset + (list.contributors.len() as u64) < list.total
                && ui.button("Next page").clicked()
            {
                self.query.offset = Some(offset + PAGE as u64);
            }
        });
        if let Some(c) = &self.confirm {
            let mut close = false;
            ui.group(|ui| {
                ui.label(question(c));
                ui.horizontal(|ui| {
                    let verb = match c.action {
                        BulkAction::Flag => "flag",
                        BulkAction::Unflag => "unflag",
                        BulkAction::Remove => "removal",
                    };
                    if let Some(n) = c.count
                        && ui.button(format!("Confirm {verb}")).clicked()
                    {
                        let (action, filter, name) = (c.action, c.filter.clone(), c.name.clone());
                        let reason = (action == BulkAction::Flag)
                            .then(|| format!("all drawings of {name}, flagged in the console"));
                        self.curate_task.start(shared, move |cl| {
                            cl.bulk(&BulkRequest {
                                action,
                                ids: Vec::new(),
                                filter: Some(filter),
                                expected_count: Some(n),
                                reason,
                            })
                            .map(|n| (action, n, name))
                        });
                        close = true;
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                });
            });
            if close {
                self.confirm = None;
            }
        }
        let mut ask = None;
        egui::ScrollArea::both()
            .id_salt("contributors_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("contributors_grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in [
                            "Contributor",
                            "",
                            "Sessions",
                            "Drawings",
                            "Mean quality",
                            "Flagged",
                            "Model agrees",
                            "Per minute",
                            "To first point",
                            "Last drawing",
                            "Review",
                        ] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for c in &list.contributors {
                            let name = display_name(c);
                            ui.label(&name);
                            // Actions next to the name: always in view, however wide the
                            // numbers.
                            ui.horizontal(|ui| {
                                if ui.button(format!("Open {name} in Browse")).clicked() {
                                    open = Some(filter_of(c));
                                }
                                if ui.button(format!("Flag all of {name}")).clicked() {
                                    ask = Some((BulkAction::Flag, c.clone()));
                                }
                                if ui.button(format!("Remove all of {name}")).clicked() {
                                    ask = Some((BulkAction::Remove, c.clone()));
                                }
                            });
                            ui.label(c.sessions.to_string());
                            ui.label(if c.removed > 0 {
                                format!("{} (+{} removed)", c.drawings, c.removed)
                            } else {
                                c.drawings.to_string()
                            });
                            ui.label(opt(c.mean_quality, |q| format!("{q:.2}")));
                            ui.label(opt(c.flagged_share, |s| {
                                format!("{} ({:.0} %)", c.flagged, s * 100.0)
                            }));
                            ui.label(opt(c.model_agreement, |a| format!("{:.0} %", a * 100.0)));
                            ui.label(opt(c.drawings_per_minute, |r| format!("{r:.1}")));
                            ui.label(opt(c.mean_time_to_first_point_ms, |ms| {
                                format!("{:.1} s", ms / 1000.0)
                            }));
                            ui.label(inkset_protocol::quickdraw::format_timestamp_ms(
                                c.last_drawn_at,
                            ));
                            if c.review.is_empty() {
                                ui.label("");
                            } else {
                                ui.colored_label(
                                    tokens::ERROR,
                                    format!("marked: {}", review_text(&c.review)),
                                );
                            }
                            ui.end_row();
                        }
                    });
            });
        if let Some((action, c)) = ask {
            match filter_of(&c).filter() {
                Ok(filter) => {
                    let f = filter.clone();
                    self.count_task
                        .start(shared, move |cl| cl.drawing_count(&f));
                    self.confirm = Some(Confirm {
                        action,
                        name: display_name(&c),
                        filter,
                        count: None,
                    });
                }
                Err(e) => shared.error = Some(e),
            }
        }
        open
    }
}

fn question(c: &Confirm) -> String {
    let verb = match c.action {
        BulkAction::Flag => "Flag",
        BulkAction::Unflag => "Unflag",
        BulkAction::Remove => "Remove",
    };
    match c.count {
        Some(n) => format!("{verb} all {n} drawings of {}?", c.name),
        None => format!("{verb} all drawings of {}? Counting...", c.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn names_and_filters_follow_the_kind() {
        let id = Uuid::parse_str("1a2b3c4d-0000-4000-8000-000000000000").unwrap_or_default();
        let mut c = Contributor {
            kind: ContributorKind::Session,
            id,
            username: None,
            sessions: 1,
            drawings: 3,
            removed: 0,
            flagged: 0,
            flagged_share: Some(0.0),
            scored: 0,
            mean_quality: None,
            judged: 0,
            model_agreement: None,
            drawings_per_minute: None,
            mean_time_to_first_point_ms: None,
            first_drawn_at: 0,
            last_drawn_at: 0,
            review: Vec::new(),
        };
        assert_eq!(display_name(&c), "session 1a2b3c4d");
        assert_eq!(
            filter_of(&c).filter().ok().and_then(|f| f.session),
            Some(id)
        );
        c.kind = ContributorKind::Player;
        c.username = Some("ada".into());
        assert_eq!(display_name(&c), "ada");
        let f = filter_of(&c).filter().unwrap_or_default();
        assert_eq!((f.player, f.session), (Some(id), None));
        assert_eq!(
            review_text(&[ReviewReason::MostlyFlagged {
                flagged_share: 0.75
            }]),
            "mostly flagged: 75 %"
        );
    }
}
