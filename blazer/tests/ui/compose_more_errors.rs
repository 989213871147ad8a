#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::task]
fn neg(x: i64) -> i64 {
    -x
}

fn main() {
    let _ = blazer::blazer! { map() };
    let _ = blazer::blazer! { scatter(0..3, sqr, sqr) };
    let _ = blazer::blazer! {
        pipeline[sqr(1), parallel[sqr, neg, sqr, neg, sqr, neg, sqr, neg, sqr]]
    };
}
