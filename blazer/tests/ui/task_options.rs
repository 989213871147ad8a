// Each wrong option is one error on the option itself; the functions stay as written.
#[blazer::task(gpu, gpu)]
fn twice(x: i64) -> i64 {
    x
}

#[blazer::task(gpu = true)]
fn valued(x: i64) -> i64 {
    x
}

#[blazer::task(threads = 4, gpu(1))]
fn unknown_and_list(x: i64) -> i64 {
    x
}

#[blazer::task(crate = blazer, crate = blazer)]
fn two_crates(x: i64) -> i64 {
    x
}

#[blazer::task(crate = 1 + 2)]
fn not_a_path(x: i64) -> i64 {
    x
}

fn main() {
    // Still plain functions: no error here.
    let _ = twice(1) + valued(2) + unknown_and_list(3) + two_crates(4) + not_a_path(5);
}
