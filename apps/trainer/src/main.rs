//! `inkset-trainer`: trains and evaluates recognizers.

// mimalloc, as the server: a training step allocates tens of MiB of im2col and gradient
// buffers and frees them again; glibc returns them to the kernel and faults them back in
// every step (page faults were ~5 % of a native step's profile, BENCHMARKS.md issue 18).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    inkset_trainer::main()
}
