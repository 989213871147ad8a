//! Compile-error snapshots for every error the macros emit (`tests/ui/*.stderr`), plus one
//! program that uses the main forms and must compile and run.
//! Regenerate after an intended change with `TRYBUILD=overwrite cargo test -p blazer --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/task_*.rs");
    t.compile_fail("tests/ui/main_*.rs");
    t.compile_fail("tests/ui/compose_*.rs");
    t.compile_fail("tests/ui/test_*.rs");
    t.pass("tests/ui/pass_*.rs");
}
