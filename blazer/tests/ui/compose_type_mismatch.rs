// A stage whose input type differs from the previous output is one error, on that stage.
#[blazer::task]
fn count(words: Vec<String>) -> i64 {
    words.len() as i64
}

#[blazer::task]
fn shout(s: String) -> String {
    s.to_uppercase()
}

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let a = blazer::blazer! { pipeline[count(vec!["a".to_string()]), shout] }?;
    let b = blazer::blazer! { pipeline[sqr(2), parallel[sqr, shout]] }?;
    let c = blazer::blazer! { pipeline[map(sqr, vec![1, 2]), shout] }?;
    let _ = (a, b, c);
    Ok(())
}
