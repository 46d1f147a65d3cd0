//! Versioned dataset releases (`/api/admin/releases`): an immutable, named snapshot of the
//! curated drawings (the filter that chose them, their ids and content hashes), with a
//! manifest of counts and quality, a datasheet, diffs between releases, and exports in
//! every format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DrawingFilter;
use crate::validate::FieldError;

/// `POST /api/admin/releases` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CutRelease {
    /// Its name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit (e.g.
    /// `2026-12-shapes-v1`); unique, never reused.
    pub name: String,
    /// What it is for, shown in the datasheet.
    #[serde(default)]
    pub description: String,
    /// Which drawings (default: every drawing not removed). Flagged drawings are in unless
    /// the filter says `flagged: false`.
    #[serde(default)]
    pub filter: DrawingFilter,
}

impl CutRelease {
    /// Longest name.
    pub const MAX_NAME: usize = 64;
    /// Longest description, characters.
    pub const MAX_DESCRIPTION: usize = 4_000;
}

/// Checks a release name (see [`CutRelease::name`]).
///
/// # Errors
/// A [`FieldError`] naming `field`, code `invalid`.
pub fn check_release_name(name: &str, field: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= CutRelease::MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "invalid",
            format!(
                "a release name is 1 to {} of a-z 0-9 . _ -, starting with a letter or digit",
                CutRelease::MAX_NAME
            ),
        ))
    }
}

/// Quality scores of a release's drawings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseQuality {
    /// Drawings with a score.
    pub scored: u64,
    /// Drawings without one.
    pub unscored: u64,
    /// Mean score, 0..=1.
    pub mean: Option<f64>,
    /// Scores in `[k/10, (k+1)/10)`, k = 0..=9 (1.0 in the last).
    pub histogram: Vec<u64>,
}

/// What a release holds, fixed when it is cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseManifest {
    /// Manifest format version (1).
    pub format: u32,
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// When it was cut, ms since the Unix epoch (server clock).
    pub created_at: i64,
    /// The admin who cut it.
    pub created_by: Option<String>,
    /// The filter that chose the drawings, as given (the snapshot bound is `created_at`).
    pub filter: DrawingFilter,
    /// The license text of the server's `[releases]` settings at the time.
    pub license: String,
    /// Drawings.
    pub drawing_count: u64,
    /// Drawings per class (shape or distractor word).
    pub per_class: BTreeMap<String, u64>,
    /// Drawings per source: `inkset` (players' uploads), `quickdraw` (imported Quick, Draw!
    /// records), or the `source` an imported derived record names (e.g. `$1`,
    /// `detexify`, `momocs`).
    pub per_source: BTreeMap<String, u64>,
    /// Drawings per class and source.
    pub per_class_source: BTreeMap<String, BTreeMap<String, u64>>,
    /// Drawings per input device (`mouse`, `touch`, `pen`; `none` for imports).
    pub per_device: BTreeMap<String, u64>,
    /// Drawings per Quick, Draw! country code of imports (`??` when absent).
    pub per_country: BTreeMap<String, u64>,
    /// Quality scores at the cut.
    pub quality: ReleaseQuality,
    /// Drawings flagged at the cut (in the release because the filter let them in).
    pub flagged: u64,
    /// Player sessions that contributed.
    pub sessions: u64,
    /// Earliest and latest receive time, ms since the Unix epoch.
    pub received_from: Option<i64>,
    /// See `received_from`.
    pub received_to: Option<i64>,
    /// sha256 (hex) of the sorted lines `<drawing id> <content hash>\n`: the exact drawings.
    pub ids_sha256: String,
}

/// A release: its manifest and its datasheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    /// Counts, filter, license, hash.
    pub manifest: ReleaseManifest,
    /// The datasheet (Markdown), after Gebru et al., "Datasheets for Datasets" (2018/2021):
    /// motivation, composition, collection process, preprocessing, uses, distribution,
    /// maintenance, filled in from the data where it can be.
    pub datasheet: String,
}

/// One row of `GET /api/admin/releases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseSummary {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// When it was cut, ms since the Unix epoch.
    pub created_at: i64,
    /// Drawings.
    pub drawing_count: u64,
    /// Drawings per class.
    pub per_class: BTreeMap<String, u64>,
    /// See [`ReleaseManifest::ids_sha256`].
    pub ids_sha256: String,
}

/// `GET /api/admin/releases` answer, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseList {
    /// Releases.
    pub releases: Vec<ReleaseSummary>,
}

/// Per-class change between two releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClassDiff {
    /// In the newer release only.
    pub added: u64,
    /// In the older release only.
    pub removed: u64,
    /// In both.
    pub kept: u64,
}

/// `GET /api/admin/releases/{name}/diff/{other}` answer: what changed from `from` (`other`)
/// to `to` (`name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseDiff {
    /// The release compared against.
    pub from: String,
    /// The release described.
    pub to: String,
    /// Totals over every class.
    pub total: ClassDiff,
    /// Per class (every class of either release).
    pub per_class: BTreeMap<String, ClassDiff>,
    /// Ids of the added drawings, at most [`ReleaseDiff::MAX_IDS`], sorted.
    pub added_ids: Vec<Uuid>,
    /// Ids of the removed drawings, at most [`ReleaseDiff::MAX_IDS`], sorted.
    pub removed_ids: Vec<Uuid>,
}

impl ReleaseDiff {
    /// Most ids listed per direction.
    pub const MAX_IDS: usize = 10_000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_are_path_and_url_safe() {
        for ok in ["v1", "2026-12-shapes", "a.b_c-d", &"x".repeat(64)] {
            assert_eq!(check_release_name(ok, "name"), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "V1",
            "-v1",
            ".hidden",
            "a/b",
            "a b",
            "ü",
            &"x".repeat(65),
        ] {
            assert_eq!(
                check_release_name(bad, "name").map_err(|e| e.field),
                Err("name".to_owned()),
                "{bad:?}"
            );
        }
    }
}
