fn not_a_task(x: i64) -> i64 {
    x
}

fn main() {
    let _ = blazer::blazer! { pipeline[missing(1), not_a_task] };
}
