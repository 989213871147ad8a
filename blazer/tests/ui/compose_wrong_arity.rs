#[blazer::task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // A first stage needs all its arguments; a later stage binds all but the last.
    let _ = blazer::blazer! { pipeline[add(1), add(1, 2)] };
}
