// Identifiers the macros introduce never capture the user's: variables, tasks and functions
// named like them keep their own meaning.
use blazer::blazer;

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[blazer::task]
fn scale(factor: i64, x: i64) -> i64 {
    factor * x
}

// Named like the parameter and the locals of the generated `Task::run`.
#[blazer::task]
fn input(x: i64) -> i64 {
    x + 1
}

#[blazer::task]
fn arg0(arg0: i64, arg1: i64) -> i64 {
    arg0 - arg1
}

#[blazer::task]
fn e(x: i64) -> Result<i64, String> {
    Ok(x * 2)
}

// Named like the function `#[blazer::main]` used to wrap the body in.
fn blazer_driver(x: i64) -> i64 {
    x + 1000
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let value = 10;
    // 1 + 4 + 9 = 14, scaled by the user's `value`, not by the intermediate result.
    let r = blazer! { pipeline[map(sqr, vec![1, 2, 3]), reduce(add), scale(value)] }?;
    assert_eq!(r, 140);
    let c = blazer! { pipeline[map(sqr, vec![1, 2]), constant(value)] }?;
    assert_eq!(c, 10);
    let s = blazer! { pipeline[map(sqr, vec![1, 2]), reduce(add), parallel[scale(value), add(value)]] }?;
    assert_eq!(s, (50, 15));

    assert_eq!(input(1), 2);
    assert_eq!(blazer! { pipeline[input(value), input] }?, 12);
    assert_eq!(blazer! { pipeline[arg0(value, 3), arg0(100)] }?, 93);
    assert_eq!(blazer! { pipeline[e(value), sqr] }?, 400);

    assert_eq!(blazer_driver(1), 1001);
    Ok(())
}
