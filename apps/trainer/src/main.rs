//! `inkset-trainer`: trains and evaluates recognizers.

fn main() -> anyhow::Result<()> {
    inkset_trainer::main()
}
