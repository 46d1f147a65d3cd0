//! `inkset-workbench`: see the library's docs.

fn main() -> anyhow::Result<()> {
    inkset_workbench::main()
}
