// The main forms compile, run as a world of one, and agree with plain calls.
use blazer::{blazer, call, fork, partial, task};

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[blazer::task]
fn mul_add(a: i64, b: i64, c: i64) -> i64 {
    a * b + c
}

#[blazer::task]
fn describe(n: i64) -> String {
    format!("n={n}")
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let p = blazer! { pipeline[add(1, 2), sqr, add(10)] }?;
    assert_eq!(p, blazer::pipeline(call::<add>((1, 2)).then(task::<sqr>()).then(partial::<add>(10)))?);
    assert_eq!(p, 19);

    let v: Vec<i64> = blazer! { parallel[sqr(1), sqr(2), sqr(3)] }?;
    assert_eq!(v, vec![1, 4, 9]);

    let t: (i64, String) = blazer! { parallel[sqr(4), describe(4)] }?;
    assert_eq!(t, (16, "n=4".to_string()));

    let fanned = blazer! { pipeline[sqr(3), parallel[sqr, describe, pipeline[add(1), describe]]] }?;
    let plain = call::<sqr>(3).then(fork((task::<sqr>(), task::<describe>(), partial::<add>(1).then(task::<describe>()))));
    assert_eq!(fanned, blazer::pipeline(plain)?);

    let total = blazer! { pipeline[map(sqr, vec![1, 2, 3, 4]), reduce(add)] }?;
    assert_eq!(total, 30);
    let scattered = blazer! { scatter(0..5, add(100)) }?;
    assert_eq!(scattered, vec![100, 101, 102, 103, 104]);
    let listed = blazer! { pipeline[constant(vec![1i64, 2]), map(sqr)] }?;
    assert_eq!(listed, vec![1, 4]);
    // Constants take their input type from the stage before, in a pipeline and in a branch.
    let c = blazer! { pipeline[sqr(2), constant(5i64), sqr, parallel[constant("k".to_string()), describe]] }?;
    assert_eq!(c, ("k".to_string(), "n=25".to_string()));
    let mapped = blazer! { pipeline[map(pipeline[sqr, add(1)], vec![1, 2]), constant(7i64), add(3)] }?;
    assert_eq!(mapped, 10);
    let three = blazer! { pipeline[mul_add(2, 3, 4), mul_add(10, 1)] }?;
    assert_eq!(three, 10 * 1 + 10);
    let all: Vec<i64> = blazer! { pipeline[sqr(3), parallel[sqr, add(1)] as Vec] }?;
    assert_eq!(all, vec![81, 10]);
    Ok(())
}
