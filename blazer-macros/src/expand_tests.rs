//! Expansion snapshots of the main forms: what `cargo expand` shows for each macro, kept in
//! `tests/expand/*.expanded.rs`. Regenerate after an intended change with
//! `BLAZER_BLESS=1 cargo test -p blazer-macros`.

use proc_macro2::TokenStream;
use std::path::PathBuf;

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
    prettyplease::unparse(&file)
}

fn check(name: &str, expanded: String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expand")
        .join(format!("{name}.expanded.rs"));
    if std::env::var_os("BLAZER_BLESS").is_some() {
        std::fs::write(&path, &expanded).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with BLAZER_BLESS=1",
            path.display()
        )
    });
    assert_eq!(
        expanded, expected,
        "expansion of `{name}` changed; run with BLAZER_BLESS=1 if intended"
    );
}

fn task(name: &str, attr: &str, item: &str) {
    let out = crate::task::expand(attr.parse().unwrap(), item.parse().unwrap()).expect("expands");
    check(name, pretty(out));
}

fn compose(name: &str, input: &str) {
    let expr = crate::compose::expand(input.parse().unwrap()).expect("expands");
    check(
        name,
        pretty(quote::quote!(fn expansion() { let _ = #expr; })),
    );
}

#[test]
fn task_with_one_argument() {
    task(
        "task_one_argument",
        "",
        "pub fn calc_stuff(value: Value) -> Value { Value::single(\"this\", value) }",
    );
}

#[test]
fn task_with_several_arguments_and_a_result() {
    task(
        "task_fallible",
        "",
        "fn checked_div(a: i64, b: i64) -> Result<i64, String> { if b == 0 { Err(\"zero\".into()) } else { Ok(a / b) } }",
    );
}

#[test]
fn task_under_cfg() {
    task(
        "task_cfg",
        "",
        "#[cfg(feature = \"x\")] #[cfg_attr(test, inline, cfg(unix), cfg_attr(windows, cold, cfg(all())))] #[cfg_attr(test, inline)] #[doc = \"Doubles.\"] fn twice(x: i64) -> i64 { x * 2 }",
    );
}

#[test]
fn gpu_task() {
    task("task_gpu", "gpu", "fn scale(v: Vec<f32>) -> Vec<f32> { v }");
}

#[test]
fn renamed_crate() {
    task(
        "task_crate_path",
        "gpu, crate = my_blazer",
        "fn scale(v: Vec<f32>) -> Vec<f32> { v }",
    );
    let out = crate::main_fn::expand(
        "crate = \"my_blazer\"".parse().unwrap(),
        "fn main() {}".parse().unwrap(),
    )
    .expect("expands");
    check("main_crate_path", pretty(out));
    compose(
        "compose_crate_path",
        "crate = ::my::blazer; pipeline[map(sqr, vec![1, 2]), reduce(add), add(10)]",
    );
}

#[test]
fn main_with_result() {
    let out = crate::main_fn::expand(
        TokenStream::new(),
        "fn main() -> blazer::Result<()> { blazer::root_println!(\"hi\"); Ok(()) }"
            .parse()
            .unwrap(),
    )
    .expect("expands");
    check("main_result", pretty(out));
}

#[test]
fn nested_pipeline() {
    compose(
        "pipeline_nested",
        "pipeline[calc_stuff(\"DATA\"), pipeline[calc_some, add_date], calc_stuff]",
    );
}

#[test]
fn parallel_inside_pipeline() {
    compose(
        "pipeline_parallel",
        "pipeline[sqr(3), parallel[sqr, describe, pipeline[add(1), describe]]]",
    );
}

#[test]
fn homogeneous_parallel() {
    compose("parallel_vec", "parallel[sqr(1), sqr(2), sqr(3)]");
}

#[test]
fn dataset_steps() {
    compose(
        "dataset_steps",
        "pipeline[map(sqr, vec![1, 2, 3]), dataset[map(sqr), filter(even), map_overlap(smooth, 1, Open), reduce(add)]]",
    );
}

#[test]
fn map_reduce_scatter() {
    compose(
        "map_reduce",
        "pipeline[map(sqr, vec![1, 2, 3, 4]), reduce(add)]",
    );
    compose("scatter_partial", "scatter(0..10, add(100))");
}

#[test]
fn multi_rank_test() {
    let out = crate::test_fn::expand(
        "ranks = 4, timeout = \"90s\"".parse().unwrap(),
        "#[ignore] fn squares() -> blazer::Result<()> { assert_eq!(blazer::size(), 4); Ok(()) }"
            .parse()
            .unwrap(),
    )
    .expect("expands");
    check("test_ranks_timeout", pretty(out));
}

#[test]
fn multi_rank_test_without_result() {
    let out = crate::test_fn::expand(
        "ranks = 2".parse().unwrap(),
        "fn gives_up() { panic!(\"no\") }".parse().unwrap(),
    )
    .expect("expands");
    check("test_unit", pretty(out));
}
