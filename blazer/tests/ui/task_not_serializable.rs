// Arguments travel between ranks: they must implement serde's traits.
struct Opaque;

#[blazer::task]
fn f(x: Opaque) -> i64 {
    let _ = x;
    1
}

fn main() {}
