//! `inkset-console`: see the library's docs.

fn main() -> anyhow::Result<()> {
    inkset_console::main()
}
