// A dataset step whose task does not take the dataset's items is one error, on the task;
// misplaced or unknown items are reported on their names.
#[blazer::task]
fn sqr(x: u64) -> u64 {
    x * x
}

#[blazer::task]
fn shout(s: String) -> String {
    s.to_uppercase()
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let a = blazer::blazer! { dataset[range(10), map(shout), collect] }?;
    let b = blazer::blazer! { dataset[map(sqr), count] }?;
    let c = blazer::blazer! { dataset[range(3), count, map(sqr)] }?;
    let d = blazer::blazer! { pipeline[sqr(2), dataset[range(3), count]] }?;
    let e = blazer::blazer! { dataset[range(3), sort] }?;
    let _ = (a, b, c, d, e);
    Ok(())
}
