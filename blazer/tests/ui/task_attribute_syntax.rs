#[blazer::task(gpu = 1)]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
