// Task forms that are accepted: `const fn`, and tasks under `cfg` (rustc drops a configured-out
// task before the macro sees it; the macro also copies `cfg` onto what it adds).
#[blazer::task]
const fn twice(x: i64) -> i64 {
    x * 2
}

#[blazer::task]
#[cfg(any())]
fn never_compiled(x: i64) -> i64 {
    x
}

#[blazer::task]
#[cfg_attr(all(), cfg(any()))]
fn never_compiled_either(x: i64) -> i64 {
    x
}

#[blazer::task]
#[cfg(all())]
#[cfg_attr(all(), allow(clippy::needless_return))]
fn always_compiled(x: i64) -> i64 {
    return x + 1;
}

// The names of the configured-out tasks are free again.
struct never_compiled;

#[blazer::main]
fn main() -> blazer::Result<()> {
    const FOUR: i64 = twice(2);
    let _ = never_compiled;
    let v = blazer::blazer! { pipeline[twice(FOUR), always_compiled] }?;
    assert_eq!(v, 9);
    Ok(())
}
