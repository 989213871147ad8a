// Every reason a function cannot be a task is reported at once, each on its own span.
#[blazer::task]
async fn fetch<T>(url: &str, (a, b): (i32, i32), f: impl Fn()) -> &'static str {
    let _ = (a, b, f);
    url
}

fn main() {}
