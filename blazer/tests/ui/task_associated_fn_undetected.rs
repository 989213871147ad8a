// An associated function that does not mention `Self` cannot be told from a free function by
// the macro: rustc rejects the marker type it adds, with one error naming the function.
struct Meters;

impl Meters {
    #[blazer::task]
    fn half(x: f64) -> f64 {
        x / 2.0
    }
}

fn main() {}
