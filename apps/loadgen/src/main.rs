//! `inkset-loadgen`: simulated players against an `inkset-server`, in their own process.

fn main() -> anyhow::Result<()> {
    inkset_loadgen::main()
}
