//! The `inkset-server` binary; everything lives in the library.

fn main() -> anyhow::Result<()> {
    inkset_server::cli::main()
}
