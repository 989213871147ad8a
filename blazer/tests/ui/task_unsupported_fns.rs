// Function kinds a task cannot be: each is one error naming the fix.
#[blazer::task]
unsafe fn raw(x: i64) -> i64 {
    x
}

#[blazer::task]
extern "C" fn exported(x: i64) -> i64 {
    x
}

#[blazer::task]
async fn later(x: i64) -> i64 {
    x
}

#[blazer::task]
fn generic<T: Clone>(x: T) -> T {
    x
}

#[blazer::task]
fn with_lifetime<'a>(x: i64) -> i64 {
    x
}

fn main() {}
