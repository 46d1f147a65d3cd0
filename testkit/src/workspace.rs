//! The workspace's crates and the dependencies between them, read from `cargo metadata`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// How a crate depends on another (Cargo's dependency kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`: tests, benches, examples.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

/// One dependency of a workspace crate on another workspace crate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The depending package's name.
    pub from: String,
    /// The package depended on.
    pub to: String,
    /// Which table declares it.
    pub kind: Kind,
    /// Whether it is `optional = true` (behind a feature).
    pub optional: bool,
}

/// The workspace: member packages (name → manifest folder, relative to the root) and the
/// dependencies between them.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Members by package name, with their folder relative to the workspace root.
    pub members: BTreeMap<String, PathBuf>,
    /// Every dependency of a member on a member.
    pub edges: Vec<Edge>,
}

impl Workspace {
    /// Reads the workspace that holds this crate with `cargo metadata --no-deps`.
    ///
    /// # Panics
    /// When cargo cannot be run or its output is not the documented JSON (format 1).
    pub fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
        Self::from_metadata(&meta)
    }

    /// The workspace described by `cargo metadata --format-version 1` output.
    ///
    /// # Panics
    /// When a field the format documents is missing.
    pub fn from_metadata(meta: &serde_json::Value) -> Self {
        let root = PathBuf::from(meta["workspace_root"].as_str().expect("workspace_root"));
        let packages = meta["packages"].as_array().expect("packages");
        let members: BTreeMap<String, PathBuf> = packages
            .iter()
            .map(|p| {
                let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest_path"));
                let dir = manifest.parent().unwrap_or(&root);
                let rel = dir.strip_prefix(&root).unwrap_or(dir).to_owned();
                (p["name"].as_str().expect("name").to_owned(), rel)
            })
            .collect();
        let mut edges = Vec::new();
        for p in packages {
            let from = p["name"].as_str().expect("name");
            for d in p["dependencies"].as_array().expect("dependencies") {
                let to = d["name"].as_str().expect("dependency name");
                if !members.contains_key(to) {
                    continue;
                }
                let kind = match d["kind"].as_str() {
                    Some("dev") => Kind::Dev,
                    Some("build") => Kind::Build,
                    _ => Kind::Normal,
                };
                edges.push(Edge {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    kind,
                    optional: d["optional"].as_bool().unwrap_or(false),
                });
            }
        }
        edges.sort();
        Self { members, edges }
    }
}
