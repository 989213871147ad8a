#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

fn main() {
    let _ = blazer::blazer! { pipeline(sqr(2), sqr) };
    let _ = blazer::blazer! { sequence[sqr(2), sqr] };
    let _ = blazer::blazer! { pipeline[] };
    let _ = blazer::blazer! { parallel[sqr(1)] as List };
}
