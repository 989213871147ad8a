// A reference anywhere inside an argument or result type is reported on the `&`, with the
// owned type to write instead.
#[blazer::task]
fn words(w: Vec<&str>, pair: (&str, u8), o: Option<&String>, s: &mut [u8]) -> Vec<&'static str> {
    let _ = (w, pair, o, s);
    Vec::new()
}

fn main() {}
