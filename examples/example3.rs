//! map/reduce, ported from the original blazer's `example3.py`.
//!
//! `mpirun -n 4 --oversubscribe target/release/examples/example3` prints `[1, 4, 9, 16]` and `30`.

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let result = blazer::map(blazer::task::<sqr>(), vec![1, 2, 3, 4])?;
    blazer::root_println!("{result:?}");
    let result = blazer::reduce(blazer::task::<add>(), result)?;
    blazer::root_println!("{result}");
    Ok(())
}
