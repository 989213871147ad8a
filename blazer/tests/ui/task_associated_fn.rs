// A task is a free function. In an `impl` block, `Self` in the signature or the body gives it
// away; the error says to move the function out.
struct Meters(f64);

impl Meters {
    #[blazer::task]
    fn from_feet(x: f64) -> Self {
        Meters(x * 0.3048)
    }

    #[blazer::task]
    fn double(x: f64) -> f64 {
        Self::from_feet(x).0 * 2.0
    }
}

fn main() {}
