//! `inkset-server generate`: volume made from the real drawings, through the import path,
//! idempotent per seed, on both stacks.

use crate::common::{Backend, Cli, TestServer};

crate::on_both_backends!(generated_volume_is_stored_once_per_seed);

async fn generated_volume_is_stored_once_per_seed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let generate = |seed: &str| server.generate(3000, seed.parse().unwrap(), None);
    let first = generate("7");
    assert!(
        first.contains("3000 records: 3000 stored, 0 already present, 0 rejected"),
        "{first}"
    );
    let again = generate("7");
    assert!(
        again.contains("3000 records: 0 stored, 3000 already present, 0 rejected"),
        "{again}"
    );
    let other = generate("8");
    assert!(other.contains("3000 stored"), "{other}");
    let admin = server.admin_token().await;
    let (status, count) = server.get_json("/api/admin/drawings/count", &admin).await;
    assert_eq!(status, 200, "{count}");
    assert_eq!(count["count"], 6000, "{count}");
    server.finish().await;
}
