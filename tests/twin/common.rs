// The part of `blazer-twin` that both builds share, included by `ab.rs` and `ba.rs`.

/// The fields as the rank that runs the task decodes them.
#[blazer::task]
fn fields(p: P) -> String {
    format!("a={} b={}", p.a, p.b)
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    // A `map`, so that with BLAZER_CHECKPOINT the two builds share a log: the second must
    // reuse nothing of the first (tests/resume.rs).
    let seen = blazer::map(blazer::task::<fields>(), [P { a: 1, b: 2 }])?;
    blazer::root_println!("FIELDS {}", seen[0]);
    Ok(())
}
