#[blazer::test(ranks = 2)]
async fn is_async() {}

#[blazer::test(ranks = 2)]
fn takes_arguments(n: usize) {}

#[blazer::test(ranks = 2)]
fn is_generic<T: Default>() {}

#[blazer::test(ranks = 2)]
#[test]
fn tested_twice() {}

#[blazer::test(ranks = 2)]
#[should_panic]
fn expects_a_panic() {}

fn main() {}
