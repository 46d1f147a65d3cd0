//! Player progress: daily streaks and achievements, computed from the days a player drew.
//!
//! Days are whole days since the Unix epoch in the player's time zone, dated by
//! server-corrected time (see `inkset_protocol::api::BatchUpload::sent_at`), so a device
//! clock set days ahead or years behind neither breaks nor fakes a streak.

use std::collections::BTreeMap;

use inkset_protocol::api::Achievement;

/// `(current, longest)` streak in days over `days` (ascending, distinct). The current
/// streak ends today or yesterday: a player who has not drawn yet today keeps it until
/// the day is over.
pub fn streaks(days: &[i64], today: i64) -> (u32, u32) {
    let mut longest = 0u32;
    let mut run = 0u32;
    let mut prev: Option<i64> = None;
    for &d in days {
        run = match prev {
            Some(p) if d == p + 1 => run + 1,
            Some(p) if d == p => run,
            _ => 1,
        };
        longest = longest.max(run);
        prev = Some(d);
    }
    let current = match prev {
        Some(last) if last == today || last == today - 1 => run,
        _ => 0,
    };
    (current, longest)
}

/// Every achievement with the player's progress, in display order.
///
/// `per_shape` holds every prompt shape (zero counts included); `longest_streak` is in days.
pub fn achievements(per_shape: &BTreeMap<String, u64>, longest_streak: u32) -> Vec<Achievement> {
    let total: u64 = per_shape.values().sum();
    let shapes_drawn = per_shape.values().filter(|&&n| n > 0).count() as u64;
    let every_shape = per_shape.len() as u64;
    let least_drawn = per_shape.values().copied().min().unwrap_or(0);
    let streak = u64::from(longest_streak);
    let item = |id: &str, title: &str, description: &str, progress: u64, goal: u64| Achievement {
        id: id.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        progress: progress.min(goal),
        goal,
        unlocked: progress >= goal,
    };
    vec![
        item(
            "first-drawing",
            "First ink",
            "Finish your first drawing",
            total,
            1,
        ),
        item(
            "every-shape",
            "Full set",
            "Draw every shape at least once",
            shapes_drawn,
            every_shape.max(1),
        ),
        item("drawings-50", "Sketchbook", "Finish 50 drawings", total, 50),
        item(
            "drawings-250",
            "Prolific",
            "Finish 250 drawings",
            total,
            250,
        ),
        item(
            "each-shape-20",
            "Well rounded",
            "Draw each shape 20 times",
            least_drawn,
            20,
        ),
        item(
            "streak-3",
            "On a roll",
            "Draw on 3 days in a row",
            streak,
            3,
        ),
        item(
            "streak-7",
            "Week of ink",
            "Draw on 7 days in a row",
            streak,
            7,
        ),
        item("streak-30", "Habit", "Draw on 30 days in a row", streak, 30),
    ]
}

/// `YYYY-MM-DD` of a day number (days since the Unix epoch).
pub fn day_label(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .map(|t| {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streak_ends_today_or_yesterday() {
        assert_eq!(streaks(&[], 100), (0, 0));
        assert_eq!(streaks(&[98, 99, 100], 100), (3, 3));
        assert_eq!(streaks(&[98, 99], 100), (2, 2));
        assert_eq!(streaks(&[97, 98], 100), (0, 2));
        assert_eq!(streaks(&[90, 91, 92, 93, 99, 100], 100), (2, 4));
        assert_eq!(streaks(&[100], 100), (1, 1));
    }

    #[test]
    fn achievements_track_progress() {
        let mut per_shape: BTreeMap<String, u64> =
            ["circle", "heart", "line", "square", "triangle"]
                .into_iter()
                .map(|s| (s.to_owned(), 0))
                .collect();
        let a = achievements(&per_shape, 0);
        assert!(a.iter().all(|x| !x.unlocked));
        per_shape.insert("circle".into(), 3);
        let a = achievements(&per_shape, 3);
        let get = |id: &str| a.iter().find(|x| x.id == id).cloned();
        assert!(get("first-drawing").is_some_and(|x| x.unlocked));
        assert!(get("streak-3").is_some_and(|x| x.unlocked));
        assert!(get("streak-7").is_some_and(|x| !x.unlocked && x.progress == 3));
        assert!(get("every-shape").is_some_and(|x| x.progress == 1 && x.goal == 5));
    }

    #[test]
    fn day_labels() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(day_label(20_421), "2025-11-29");
    }
}
