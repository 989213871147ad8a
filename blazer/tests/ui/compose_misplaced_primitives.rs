#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // Several structural errors are reported in one pass.
    let _ = blazer::blazer! {
        pipeline[
            map(sqr),
            map(sqr, vec![1, 2]),
            parallel[reduce(add, vec![1]), sqr],
        ]
    };
}
