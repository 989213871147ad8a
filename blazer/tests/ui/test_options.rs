#[blazer::test(ranks = 2, ranks = 3, threads = 4, timeout = "soon")]
fn options_wrong() {}

#[blazer::test(ranks = 0)]
fn no_ranks() {}

#[blazer::test(ranks = "2", timeout = 60)]
fn values_of_the_wrong_kind() {}

#[blazer::test(timeout = "60s")]
fn ranks_missing() {}

fn main() {}
