//! The dashboard: drawings per shape (flagged stacked), the quality score histogram,
//! drawings per day, flagged and removed counts, contributors, device and pointer-type mix,
//! and the time from prompt to first point, all from `GET /api/admin/stats`.

use egui::RichText;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
use inkset_egui_kit::tokens;
use inkset_protocol::api::AdminStats;

/// Draws the dashboard for `stats` (a loading line before the first answer).
pub fn show(ui: &mut egui::Ui, stats: Option<&AdminStats>) {
    let Some(s) = stats else {
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
        let kept = BarChart::new("kept", kept).color(tokens::PRIMARY);
        let flagged = BarChart::new("flagged", flagged)
            .color(tokens::FLAGGED)
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

/// The prompt plan: which share of the prompts each shape gets and why (the policy, the
/// production model's F1 and most frequent confusion, the drawings stored), beside the
/// prompts dealt so far.
pub fn prompts(ui: &mut egui::Ui, plan: &inkset_protocol::api::PromptPlan) {
    ui.add_space(8.0);
    let policy = match plan.policy {
        inkset_protocol::api::PromptPolicy::Active => "active (more of what the model needs)",
        inkset_protocol::api::PromptPolicy::Random => "random (every shape equally)",
    };
    ui.strong(format!(
        "Prompts: policy {policy}; cycles of {} (every shape once, {} by need); model {}",
        plan.cycle,
        plan.extra,
        plan.model_version
            .map_or_else(|| "none yet".to_owned(), |v| format!("v{v}"))
    ));
    let dealt_total: u64 = plan.dealt.values().sum();
    egui::Grid::new("prompt_plan").striped(true).show(ui, |ui| {
        for h in ["Shape", "Share", "Dealt", "Why"] {
            ui.strong(h);
        }
        ui.end_row();
        for s in &plan.shapes {
            ui.label(&s.shape);
            ui.label(format!("{:.1} %", s.share * 100.0));
            let dealt = plan.dealt.get(&s.shape).copied().unwrap_or(0);
            #[allow(clippy::cast_precision_loss)]
            let text = if dealt_total > 0 {
                format!(
                    "{dealt} ({:.1} %)",
                    dealt as f64 * 100.0 / dealt_total as f64
                )
            } else {
                "0".to_owned()
            };
            ui.label(text);
            ui.label(&s.reason);
            ui.end_row();
        }
    });
}
