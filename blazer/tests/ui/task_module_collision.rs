// A task's marker type shares the type namespace with modules (that is how
// `blazer::task::<sqr>()` names it): a module of the same name collides with it.
mod sqr {}

#[blazer::task]
fn sqr(x: i64) -> i64 {
    x * x
}

fn main() {
    let _ = sqr(2);
}
