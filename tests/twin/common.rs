// The part of `blazer-twin` that both builds share, included by `ab.rs` and `ba.rs`.

/// The fields as the rank that runs the task decodes them.
#[blazer::task]
fn fields(p: P) -> String {
    format!("a={} b={}", p.a, p.b)
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let seen = blazer::parallel([blazer::call::<fields>(P { a: 1, b: 2 })])?;
    blazer::root_println!("FIELDS {}", seen[0]);
    Ok(())
}
