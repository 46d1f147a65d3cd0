//! The dependency rules of ARCHITECTURE.md, checked on `cargo metadata`: libraries depend
//! only on libraries of a lower layer, nothing depends on an app, the test kit is a
//! leaf that is a dev-dependency (or an optional one behind a `testing` feature), and there
//! is no cycle between packages (dev-dependencies included).

use std::collections::BTreeMap;

use inkset_testkit::workspace::{Edge, Kind, Workspace};

/// Where each crate sits. A library may depend on libraries of a strictly lower layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A library at this layer (0 is the bottom).
    Library(u8),
    /// The dev-only test kit: depends on no workspace crate; any crate may dev-depend on it.
    TestKit,
    /// A program users run; no crate depends on it.
    App,
}

/// The table ARCHITECTURE.md documents. A new crate must be added here (the test says so).
fn roles() -> BTreeMap<&'static str, Role> {
    BTreeMap::from([
        ("inkset-protocol", Role::Library(0)),
        ("inkset-client", Role::Library(1)),
        ("inkset-model", Role::Library(1)),
        ("inkset-worker", Role::Library(2)),
        ("inkset-server", Role::Library(3)),
        ("inkset-egui-kit", Role::Library(1)),
        ("inkset-testkit", Role::TestKit),
        ("inkset-trainer", Role::App),
        ("inkset-console", Role::App),
        ("inkset-workbench", Role::App),
        ("inkset-draw", Role::App),
        ("inkset-loadgen", Role::App),
    ])
}

/// Why `e` breaks a rule, if it does.
fn violation(roles: &BTreeMap<&str, Role>, e: &Edge) -> Option<String> {
    if e.from == e.to {
        // A package's dev-dependency on itself only turns on features for its own tests.
        return (e.kind != Kind::Dev).then(|| format!("{} depends on itself", e.from));
    }
    let (from, to) = (roles[e.from.as_str()], roles[e.to.as_str()]);
    match (from, to) {
        (_, Role::App) => Some(format!(
            "{} depends on the app {} ({:?})",
            e.from, e.to, e.kind
        )),
        (Role::TestKit, _) => Some(format!(
            "the test kit depends on {}: it must stay a leaf every crate can dev-depend on",
            e.to
        )),
        (_, Role::TestKit) if e.kind != Kind::Dev && !e.optional => Some(format!(
            "{} depends on the test kit as a {:?} dependency (dev only, or optional behind a \
             `testing` feature)",
            e.from, e.kind
        )),
        (Role::Library(a), Role::Library(b)) if b >= a => Some(format!(
            "{} (layer {a}) depends on {} (layer {b}, {:?}): libraries depend downwards only",
            e.from, e.to, e.kind
        )),
        _ => None,
    }
}

#[test]
fn every_crate_has_a_documented_place() {
    let ws = Workspace::load();
    let roles = roles();
    let unknown: Vec<&String> = ws
        .members
        .keys()
        .filter(|m| !roles.contains_key(m.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "crates missing from ARCHITECTURE.md and tests/architecture.rs: {unknown:?}"
    );
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the workspace root");
    for name in ws.members.keys() {
        assert!(
            doc.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not describe `{name}`"
        );
    }
}

#[test]
fn dependencies_run_downwards() {
    let ws = Workspace::load();
    let roles = roles();
    let broken: Vec<String> = ws
        .edges
        .iter()
        .filter(|e| roles.contains_key(e.from.as_str()) && roles.contains_key(e.to.as_str()))
        .filter_map(|e| violation(&roles, e))
        .collect();
    assert!(
        broken.is_empty(),
        "dependency rules broken:\n{}",
        broken.join("\n")
    );
    // The libraries the issue names never reach an app, whatever the kind.
    for lib in [
        "inkset-protocol",
        "inkset-model",
        "inkset-client",
        "inkset-worker",
        "inkset-server",
    ] {
        for e in ws.edges.iter().filter(|e| e.from == lib) {
            assert_ne!(roles[e.to.as_str()], Role::App, "{lib} depends on {}", e.to);
        }
    }
}

#[test]
fn the_rules_catch_what_they_forbid() {
    let roles = roles();
    let edge = |from: &str, to: &str, kind| Edge {
        from: from.into(),
        to: to.into(),
        kind,
        optional: false,
    };
    // The old cycle: the server on the trainer app, the trainer's tests on the server.
    assert!(
        violation(
            &roles,
            &edge("inkset-server", "inkset-trainer", Kind::Normal)
        )
        .is_some()
    );
    assert!(violation(&roles, &edge("inkset-trainer", "inkset-server", Kind::Dev)).is_none());
    // Upwards, sideways, an app as a dev-dependency, the kit as a normal dependency.
    assert!(violation(&roles, &edge("inkset-model", "inkset-worker", Kind::Normal)).is_some());
    assert!(violation(&roles, &edge("inkset-model", "inkset-client", Kind::Normal)).is_some());
    assert!(
        violation(
            &roles,
            &edge("inkset-workbench", "inkset-trainer", Kind::Dev)
        )
        .is_some()
    );
    assert!(
        violation(
            &roles,
            &edge("inkset-server", "inkset-testkit", Kind::Normal)
        )
        .is_some()
    );
    let optional = Edge {
        optional: true,
        ..edge("inkset-server", "inkset-testkit", Kind::Normal)
    };
    assert!(violation(&roles, &optional).is_none());
    assert!(
        violation(
            &roles,
            &edge("inkset-server", "inkset-server", Kind::Normal)
        )
        .is_some()
    );
    assert!(violation(&roles, &edge("inkset-server", "inkset-server", Kind::Dev)).is_none());
    assert!(
        violation(
            &roles,
            &edge("inkset-testkit", "inkset-protocol", Kind::Normal)
        )
        .is_some()
    );
    assert!(
        violation(
            &roles,
            &edge("inkset-protocol", "inkset-testkit", Kind::Dev)
        )
        .is_none()
    );
    assert!(violation(&roles, &edge("inkset-worker", "inkset-model", Kind::Normal)).is_none());
}
