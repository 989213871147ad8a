// With a wrong signature, the body is still compiled as written: its own mistakes are
// reported too, and nothing is reported twice.
#[blazer::main]
fn main(args: Vec<String>) -> blazer::Result<()> {
    let count: i64 = args.len();
    blazer::root_println!("{count}");
    Ok(())
}
