#[blazer::main]
fn main<T>() {}
