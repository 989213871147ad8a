// The stage after `count` takes a String, but `count` produces an i64.
#[blazer::task]
fn count(words: Vec<String>) -> i64 {
    words.len() as i64
}

#[blazer::task]
fn shout(s: String) -> String {
    s.to_uppercase()
}

fn main() {
    let _ = blazer::blazer! { pipeline[count(vec!["a".to_string()]), shout] };
}
