// A wrong number of arguments is one error on the task, naming both counts: a first stage
// needs all its arguments; a later stage binds all but the last, the stage input.
#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let a = blazer::blazer! { pipeline[add(1), sqr] }?;
    let b = blazer::blazer! { pipeline[sqr(2), add(1, 2)] }?;
    let c = blazer::blazer! { parallel[add(1, 2, 3), add(4, 5)] }?;
    let d = blazer::blazer! { scatter(0..3, add(1, 2)) }?;
    let e = blazer::blazer! { pipeline[sqr, sqr] }?;
    let _ = (a, b, c, d, e);
    Ok(())
}
