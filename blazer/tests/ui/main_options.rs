#[blazer::main(crate = blazer, crate = blazer, threads = 4)]
fn main() {}
