// `dataset[...]` forms compile, run as a world of one, and agree with the plain API.
use blazer::{blazer, Dataset, Halo};

#[blazer::task]
fn sqr(x: u64) -> u64 {
    x * x
}

#[blazer::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[blazer::task]
fn even(x: u64) -> bool {
    x % 2 == 0
}

#[blazer::task]
fn ten(i: u64) -> u64 {
    i * 10
}

#[blazer::task]
fn smooth(h: Halo<u64>) -> Vec<u64> {
    let all: Vec<u64> = [h.before, h.items.clone(), h.after].concat();
    (0..h.items.len()).map(|i| all[i] + all[i + 1] + all[i + 2]).collect()
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let a = blazer! { dataset[range(10), map(sqr), filter(even), reduce(add)] }?;
    assert_eq!(a, Dataset::range(10).map::<sqr>().filter::<even>().reduce::<add>()?);
    assert_eq!(a, Some(120));
    // Fed by the stage before: its output is scattered.
    let b = blazer! { pipeline[map(sqr, vec![1, 2, 3]), dataset[map(sqr), collect]] }?;
    assert_eq!(b, vec![1, 16, 81]);
    let c = blazer! { dataset[generate(ten, 5), map_overlap(smooth, 1, Periodic), collect] }?;
    assert_eq!(c, vec![40 + 0 + 10, 30, 60, 90, 30 + 40 + 0]);
    // With no action the value is the dataset.
    let d = blazer! { dataset[scatter(vec![3u64, 4]), map(sqr)] }?;
    assert_eq!(d.count()?, 2);
    Ok(())
}
