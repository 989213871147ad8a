#[blazer::task(cpu)]
fn f(x: i64) -> i64 {
    x
}

fn main() {}
