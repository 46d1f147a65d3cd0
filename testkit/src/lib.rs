//! `inkset-testkit`: what every Inkset test and benchmark needs, written once.
//!
//! A dev-only leaf: it depends on no Inkset crate, so every crate (the protocol included)
//! can use it in its tests without a dependency cycle.
//!
//! * [`shared_data`]: the real human drawings in `../shared/data` (see its PROVENANCE.md).
//! * [`s3_endpoint`]: an S3-compatible server for the PostgreSQL + S3 half of the suite;
//!   [`s3_bucket`]: a new bucket on it
//!   (moto's, started once per test binary, or `INKSET_TEST_S3_ENDPOINT`).
//! * [`postgres_url`]: the PostgreSQL server the suite creates its databases on.
//! * [`oip_python`]: a Python with Triton's and KServe's client SDKs (stock OIP clients),
//!   pyarrow and DuckDB (stock Parquet readers), and [`python_tool`]: schemathesis beside it.
//! * [`free_port`], [`env_or`].
//! * [`workspace`]: the workspace's crates and dependencies from `cargo metadata`, for the
//!   architecture check (`tests/architecture.rs`).

pub mod workspace;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A Python interpreter with `tritonclient[http]` and `kserve` installed:
/// `INKSET_OIP_PYTHON`, or the virtual environment `scripts/test` makes in
/// `$HOME/.cache/inkset-oip-venv`.
///
/// # Panics
/// When neither exists (run `scripts/test`, or make the venv and set `INKSET_OIP_PYTHON`).
pub fn oip_python() -> PathBuf {
    let python = std::env::var_os("INKSET_OIP_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/inkset-oip-venv/bin/python3")
        },
        PathBuf::from,
    );
    assert!(
        python.is_file(),
        "no Python with the OIP client SDKs at {}: run scripts/test (it makes the venv), or \
         `python3 -m venv DIR && DIR/bin/pip install 'tritonclient[http]' kserve` and set \
         INKSET_OIP_PYTHON=DIR/bin/python3",
        python.display()
    );
    python
}

/// A command-line tool installed in the same virtual environment as [`oip_python`]
/// (`schemathesis`, say): the file `name` beside that Python.
///
/// # Panics
///
/// When there is no such file (run `scripts/test`, which installs it).
pub fn python_tool(name: &str) -> PathBuf {
    let tool = oip_python().with_file_name(name);
    assert!(
        tool.is_file(),
        "no {name} at {}: run scripts/test (it installs it into the test venv)",
        tool.display()
    );
    tool
}

/// The real test data: `INKSET_SHARED_DATA`, or `shared/data` beside the workspace.
///
/// # Panics
/// When the folder has no `quickdraw/raw` (the data is missing: set `INKSET_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("INKSET_SHARED_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
        PathBuf::from,
    );
    assert!(
        dir.join("quickdraw/raw").is_dir(),
        "real test data not found at {} (set INKSET_SHARED_DATA)",
        dir.display()
    );
    dir
}

/// A TCP port on 127.0.0.1 that was free when checked and that no other caller in this
/// process has been given.
///
/// Tests reserve an address before anything listens on it (an offline client pointed at a
/// server that starts later), so two tests running side by side must never get the same
/// port, and an outgoing connection must not take it in between. Ports therefore come from
/// 20000..32768, below Linux's ephemeral range (32768..61000, `ip_local_port_range`) from
/// which the kernel picks the local ports of connections and of `bind(0)`, handed out in
/// turn from a start that depends on the process id, and each is checked by binding it.
///
/// # Panics
/// When no port in the range can be bound.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7_919)) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::SeqCst) % COUNT;
        let port = u16::try_from(FIRST + n).expect("ports below 32768 fit u16");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in 20000..32768");
}

/// The environment variable `name` parsed as `T`, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The PostgreSQL server for tests: `INKSET_TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test` (trust auth).
pub fn postgres_url() -> String {
    std::env::var("INKSET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The S3 endpoint for tests: `INKSET_TEST_S3_ENDPOINT`, or a moto server (`pip install
/// 'moto[server]'`) started on a free port once per process; it exits when this process
/// does.
///
/// # Panics
/// When moto cannot be started or does not answer within 60 s.
pub fn s3_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(e) = std::env::var("INKSET_TEST_S3_ENDPOINT") {
                return e;
            }
            let port = free_port();
            // A watchdog shell stops moto when this process is gone.
            let script = format!(
                "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $m",
                parent = std::process::id()
            );
            let watchdog = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::null())
                .spawn()
                .expect("starting moto_server (pip install 'moto[server]')");
            // The watchdog lives as long as this process; it is reaped by init after.
            std::mem::forget(watchdog);
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not start on port {port}; is moto[server] installed?"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

/// A new, empty bucket on the [`s3_endpoint`] server (S3's CreateBucket, `PUT /<bucket>`),
/// named `<prefix>-<unique suffix>`; returns the name.
///
/// # Panics
/// When the server cannot be reached or does not answer 200.
pub fn s3_bucket(prefix: &str) -> String {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let endpoint = s3_endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut stream = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("connecting to the S3 server at {host}: {e}"));
    write!(
        stream,
        "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("sending CreateBucket");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "creating bucket {name}: {status}"
    );
    name
}
