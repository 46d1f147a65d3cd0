//! The device's SQLite store (rusqlite): the outbox of finished drawings, and small settings
//! (session, account, cached shape list and progress).
//!
//! Every finished drawing is written here before anything else happens to it, in a
//! transaction with `synchronous = FULL`, so a drawing the app acknowledged survives a crash
//! or a kill. Rows are never deleted by syncing: a synced drawing keeps its row (state
//! `synced`) as the device's own history; a drawing the server refused keeps its row (state
//! `rejected`) with the server's error.

use std::path::Path;
use std::sync::Mutex;

use inkset_protocol::Drawing;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, file unreadable, ...).
    #[error("local database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value is not what this build wrote.
    #[error("local database holds an unreadable {what}: {source}")]
    Corrupt {
        /// What could not be read.
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The same drawing id was queued with other content.
    #[error("drawing {0} is already queued with other content")]
    Conflict(Uuid),
}

/// Where a queued drawing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting to be uploaded.
    Pending,
    /// The server stored it (its `received_at` is kept).
    Synced,
    /// The server refused it for good (4xx other than auth); the error is kept.
    Rejected,
}

impl OutboxState {
    fn parse(s: &str) -> Self {
        match s {
            "synced" => Self::Synced,
            "rejected" => Self::Rejected,
            _ => Self::Pending,
        }
    }
}

/// Outbox counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Drawings waiting to be uploaded.
    pub pending: u64,
    /// Drawings the server stored.
    pub synced: u64,
    /// Drawings the server refused.
    pub rejected: u64,
}

/// One outbox row as the UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Drawing id.
    pub id: Uuid,
    /// Prompted shape.
    pub shape: String,
    /// Where it stands.
    pub state: OutboxState,
    /// Upload attempts that failed so far.
    pub attempts: u32,
    /// The last error (transport or server), if any.
    pub last_error: Option<String>,
    /// When the device queued it, ms since the Unix epoch (device clock).
    pub queued_at: i64,
    /// Server receive time once synced, ms since the Unix epoch (server clock).
    pub received_at: Option<i64>,
}

/// The device's SQLite store. Cheap to share behind an `Arc`; calls are short and
/// serialised by one connection.
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA_VERSION: i64 = 1;

impl Store {
    /// Opens (creating) the store at `path`: WAL journal, `synchronous = FULL`.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory store (tests).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS outbox (
                     id TEXT PRIMARY KEY,
                     shape TEXT NOT NULL,
                     drawing TEXT NOT NULL,
                     queued_at INTEGER NOT NULL,
                     state TEXT NOT NULL DEFAULT 'pending',
                     attempts INTEGER NOT NULL DEFAULT 0,
                     last_error TEXT,
                     received_at INTEGER
                 );
                 CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, queued_at);
                 CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 COMMIT;",
            )?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent; keep going.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a finished drawing. Queuing the same drawing again is a no-op; the same id
    /// with other content is [`StoreError::Conflict`].
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails or on a conflicting id.
    pub fn enqueue(&self, drawing: &Drawing, now_ms: i64) -> Result<(), StoreError> {
        let json = serde_json::to_string(drawing).map_err(|source| StoreError::Corrupt {
            what: "drawing",
            source,
        })?;
        let conn = self.conn();
        let existing: Option<String> = conn
            .query_row(
                "SELECT drawing FROM outbox WHERE id = ?1",
                [drawing.id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(stored) if stored == json => Ok(()),
            Some(_) => Err(StoreError::Conflict(drawing.id)),
            None => {
                conn.execute(
                    "INSERT INTO outbox (id, shape, drawing, queued_at) VALUES (?1, ?2, ?3, ?4)",
                    params![drawing.id.to_string(), drawing.shape, json, now_ms],
                )?;
                Ok(())
            }
        }
    }

    /// Up to `limit` pending drawings, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails or a row does not parse.
    pub fn pending(&self, limit: usize) -> Result<Vec<Drawing>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT drawing FROM outbox WHERE state = 'pending' ORDER BY queued_at, id LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(
                serde_json::from_str(&row?).map_err(|source| StoreError::Corrupt {
                    what: "drawing",
                    source,
                })?,
            );
        }
        Ok(out)
    }

    /// Marks drawings as stored by the server, with the server's receive times.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn mark_synced(&self, done: &[(Uuid, i64)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, received_at) in done {
            tx.execute(
                "UPDATE outbox SET state = 'synced', received_at = ?2, last_error = NULL \
                 WHERE id = ?1",
                params![id.to_string(), received_at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a drawing as refused by the server for good, keeping it and the reason.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn mark_rejected(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'rejected', last_error = ?2 WHERE id = ?1",
            params![id.to_string(), error],
        )?;
        Ok(())
    }

    /// Records a failed attempt for drawings that stay pending.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn record_failure(&self, ids: &[Uuid], error: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id.to_string(), error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Counts by state.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn counts(&self) -> Result<OutboxCounts, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
        let mut counts = OutboxCounts::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (state, n) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            match OutboxState::parse(&state) {
                OutboxState::Pending => counts.pending = n,
                OutboxState::Synced => counts.synced = n,
                OutboxState::Rejected => counts.rejected = n,
            }
        }
        Ok(counts)
    }

    /// The outbox rows of `ids` (unknown ids are left out), in the given order.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn entries(&self, ids: &[Uuid]) -> Result<Vec<OutboxEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, shape, state, attempts, last_error, queued_at, received_at \
             FROM outbox WHERE id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = stmt
                .query_row([id.to_string()], |r| {
                    Ok(OutboxEntry {
                        id: *id,
                        shape: r.get(1)?,
                        state: OutboxState::parse(&r.get::<_, String>(2)?),
                        attempts: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
                        last_error: r.get(4)?,
                        queued_at: r.get(5)?,
                        received_at: r.get(6)?,
                    })
                })
                .optional()?;
            out.extend(row);
        }
        Ok(out)
    }

    /// Drawings made on this device per shape, any state (progress shown while offline).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn local_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT shape, COUNT(*) FROM outbox WHERE state != 'rejected' GROUP BY shape",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (s, n) = r?;
            Ok((s, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
    }

    /// A setting's value.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets (or, with `None`, removes) a setting.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`].
    pub fn set(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let conn = self.conn();
        match value {
            Some(v) => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => conn.execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// A JSON setting, parsed.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails or the value does not parse.
    pub fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &'static str,
    ) -> Result<Option<T>, StoreError> {
        self.get(key)?
            .map(|v| {
                serde_json::from_str(&v).map_err(|source| StoreError::Corrupt { what: key, source })
            })
            .transpose()
    }

    /// Stores a JSON setting.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn set_json<T: Serialize>(&self, key: &'static str, value: &T) -> Result<(), StoreError> {
        let v = serde_json::to_string(value)
            .map_err(|source| StoreError::Corrupt { what: key, source })?;
        self.set(key, Some(&v))
    }

    #[cfg(test)]
    fn state_of(&self, id: Uuid) -> Option<OutboxState> {
        self.entries(&[id])
            .ok()
            .and_then(|e| e.into_iter().next())
            .map(|e| e.state)
    }
}

#[cfg(test)]
mod tests {
    use inkset_protocol::{Canvas, Point, Stroke};

    use super::*;

    fn drawing(shape: &str) -> Drawing {
        Drawing {
            id: Uuid::new_v4(),
            shape: shape.into(),
            canvas: Some(Canvas {
                width: 300.0,
                height: 300.0,
            }),
            strokes: vec![Stroke {
                points: vec![
                    Point {
                        x: 1.0,
                        y: 2.0,
                        pressure: Some(0.5),
                        timestamp: Some(1),
                        ..Default::default()
                    },
                    Point {
                        x: 3.0,
                        y: 4.0,
                        pressure: Some(0.5),
                        timestamp: Some(2),
                        ..Default::default()
                    },
                ],
                color: None,
                width: None,
                pointer_type: Some("mouse".into()),
                pressure_measured: Some(false),
            }],
            duration_ms: Some(1),
            device: Some(inkset_protocol::Device::Mouse),
            user_agent: None,
            device_pixel_ratio: Some(1.0),
            prompt_to_first_point_ms: Some(10),
            session_id: None,
            source: None,
            guess: None,
            dropped_samples: None,
        }
    }

    #[test]
    fn outbox_lifecycle_keeps_every_row() {
        let store = Store::in_memory().unwrap();
        let a = drawing("circle");
        let b = drawing("line");
        store.enqueue(&a, 10).unwrap();
        store.enqueue(&b, 11).unwrap();
        store.enqueue(&a, 12).unwrap(); // the same drawing again: no-op
        let mut changed = a.clone();
        changed.shape = "square".into();
        assert!(matches!(
            store.enqueue(&changed, 13),
            Err(StoreError::Conflict(id)) if id == a.id
        ));
        let pending = store.pending(10).unwrap();
        assert_eq!(pending, vec![a.clone(), b.clone()]);
        store.record_failure(&[a.id], "timeout").unwrap();
        store.mark_synced(&[(a.id, 99)]).unwrap();
        store.mark_rejected(b.id, "422 strokes: empty").unwrap();
        assert_eq!(store.state_of(a.id), Some(OutboxState::Synced));
        assert_eq!(store.state_of(b.id), Some(OutboxState::Rejected));
        let counts = store.counts().unwrap();
        assert_eq!((counts.pending, counts.synced, counts.rejected), (0, 1, 1));
        let entries = store.entries(&[a.id, b.id]).unwrap();
        assert_eq!(entries[0].attempts, 1);
        assert_eq!(entries[0].received_at, Some(99));
        assert_eq!(entries[1].last_error.as_deref(), Some("422 strokes: empty"));
        assert_eq!(store.local_counts().unwrap(), vec![("circle".into(), 1)]);
    }

    #[test]
    fn rows_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("draw.sqlite");
        let a = drawing("triangle");
        {
            let store = Store::open(&path).unwrap();
            store.enqueue(&a, 1).unwrap();
            store.set("session_token", Some("t")).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.pending(5).unwrap(), vec![a]);
        assert_eq!(store.get("session_token").unwrap().as_deref(), Some("t"));
        store.set("session_token", None).unwrap();
        assert_eq!(store.get("session_token").unwrap(), None);
    }
}
