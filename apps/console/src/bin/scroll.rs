//! `inkset-console-scroll`: the Browse grid's scrolling benchmark against a running server
//! (see `inkset_console::scroll_bench`).

fn main() -> anyhow::Result<()> {
    inkset_console::scroll_bench::main()
}
