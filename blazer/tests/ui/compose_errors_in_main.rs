// A malformed `blazer!` is one error, also where its value is used with `?`.
#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let a = blazer::blazer! { pipeline(sqr(2), sqr) }?;
    let b: i64 = blazer::blazer! { sequence[sqr(2)] }?;
    let _ = (a, b);
    Ok(())
}
