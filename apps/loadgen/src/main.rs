//! `inkset-loadgen`: simulated players against an `inkset-server`, in their own process.

// mimalloc: glibc's malloc took ~19 % of the server's CPU under 10,000 players (its
// free-list consolidation under many threads; perf profile in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    inkset_loadgen::main()
}
