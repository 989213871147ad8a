// `crate = path` makes the generated code reach blazer by another name, as for a renamed
// dependency (`my_blazer = { package = "blazer-hpc", ... }`). (blazer-cluster's tests use it
// where no `blazer` crate exists at all.)
extern crate blazer as my_blazer;

#[my_blazer::task(crate = my_blazer)]
fn sqr(x: i64) -> i64 {
    x * x
}

#[my_blazer::task(crate = "my_blazer")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[my_blazer::main(crate = my_blazer)]
fn main() -> my_blazer::Result<()> {
    let total = my_blazer::blazer! {
        crate = my_blazer;
        pipeline[map(sqr, vec![1, 2, 3]), reduce(add), add(1)]
    }?;
    assert_eq!(total, 15);
    Ok(())
}
