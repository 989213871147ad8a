// A wrong attribute still has its body checked: the type error below is reported too.
#[blazer::test(ranks = 0)]
fn body_kept() {
    let n: u32 = "not a number";
}

fn main() {}
