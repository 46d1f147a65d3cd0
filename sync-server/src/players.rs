//! Players and credentials: anonymous sessions, player and admin accounts, login tokens,
//! progress (streaks and achievements).
//!
//! * [`auth`]: argon2id password hashes, bearer tokens and the extractors that guard routes.
//! * [`progress`]: streaks and achievements from the days a player drew.
//! * [`throttle`]: bounded password hashing and back-off after failed sign-ins.
//! * [`sql`]: users, sessions, tokens and per-player counts.
//! * [`handlers`]: `/api/sessions`, `/api/auth/...`, `/api/user/stats`, and the admin's
//!   `/api/admin/users/...` (list, disable, enable, revoke tokens).

pub mod auth;
pub mod handlers;
pub mod progress;
pub mod sql;
pub mod throttle;
