//! Curation and statistics: the admin's view of the dataset (filters, keyset pages, counts,
//! the dashboard's numbers), flag / unflag / remove one drawing or many, and the automatic
//! quality score.
//!
//! * [`sql`]: filters, cursors, lists, counts, bulk changes, statistics, quality rows.
//! * [`quality`]: the score (formula in its docs) and the background scorer.
//! * [`tallies`]: the summary tables the dashboard, counts and training plan read.
//! * [`handlers`]: `/api/admin/stats` and `/api/admin/drawings...`.
//! * [`contributors`]: per-contributor quality and speed, junk detection for review,
//!   `/api/admin/contributors`.

pub mod contributors;
pub mod handlers;
pub mod quality;
pub mod sql;
pub mod tallies;
