//! The `inkset-server` binary; everything lives in the library.

// mimalloc: glibc's malloc took ~19 % of the server's CPU under 10,000 players (its
// free-list consolidation under many threads; perf profile in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    inkset_server::cli::main()
}
