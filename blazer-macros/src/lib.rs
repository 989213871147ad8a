//! Procedural macros of blazer. Use them through the `blazer` facade:
//! `#[blazer::task]`, `#[blazer::main]` and `blazer::blazer!`.
//!
//! Each macro is parse → check → codegen, with every error a `syn::Error` spanned on the
//! user's code; the generated code calls named, documented functions of the runtime.

use proc_macro::TokenStream;

mod compose;
mod errors;
#[cfg(test)]
mod expand_tests;
mod main_fn;
mod options;
mod task;
mod test_fn;

/// Makes a plain function a blazer task, callable by ID on every rank.
///
/// The function must be a free function (not in an `impl` block), not generic, `async`,
/// `unsafe` or `extern`, whose arguments and result are owned types (no reference anywhere
/// inside them) implementing `serde::Serialize` and `Deserialize`; a `const fn` is fine. It
/// stays an ordinary function; the macro adds a marker type of the same name (type namespace
/// only) that implements `blazer::Task`, and registers it. The marker shares the type
/// namespace with modules and types: a module of the same name is a compile error (`the name
/// ... is defined multiple times`), so rename one of them. A `Result<T, E>` return makes it fallible:
/// an `Err` (rendered with `Display`) is reported like a panic.
///
/// Options: `gpu` holds one GPU of the node while the task runs (needs the `gpu` feature);
/// `crate = path` names the path blazer is reached by when it is not `::blazer` (a renamed
/// dependency: `#[my_blazer::task(crate = my_blazer)]`).
///
/// ```ignore
/// #[blazer::task]
/// fn add(a: i64, b: i64) -> i64 { a + b }
///
/// assert_eq!(add(1, 2), 3);                                  // still a function
/// let sums = blazer::parallel([blazer::call::<add>((1, 2))])?; // and a task
/// ```
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    match task::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the function as written, so that its callers do not add errors of their own.
        Err(e) => {
            let errors = e.into_compile_error();
            quote::quote!(#errors #item).into()
        }
    }
}

/// Runs `main`'s body on rank 0 (the driver) while ranks 1..N-1 serve tasks.
///
/// Expands to a `main` that calls `blazer::run`: it starts MPI, checks that every rank runs
/// the same task registry, runs the body on rank 0 and releases every rank when the body
/// returns, fails or panics. `main` may return `()` or `Result<(), E: Debug>`. Its one
/// option, `crate = path`, names the path blazer is reached by when it is not `::blazer`.
///
/// ```ignore
/// #[blazer::main]
/// fn main() -> blazer::Result<()> {
///     blazer::root_println!("{} ranks", blazer::size());
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    match main_fn::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(e) => main_fn::on_error(item, e).into(),
    }
}

/// A test whose body runs under blazer's runtime on `ranks` ranks, with plain `cargo test`.
///
/// Run as usual by `cargo test` (a world of one, not under a launcher), the test relaunches
/// its own test executable under the launcher of the MPI it links (`mpirun`, MPICH's
/// `mpiexec`, or `srun` inside a Slurm allocation) on `ranks` ranks, filtered to exactly this
/// test (`--exact`), with `BLAZER_TEST_CHILD` set to the test's name. The relaunched ranks
/// run the body as `#[blazer::main]` runs `main`'s: on rank 0, while ranks 1..N-1 serve its
/// tasks. The test fails when any rank fails, and the failure message holds each rank's output
/// (the failed ranks' first) and the command that ran them. At the time limit the launcher's
/// whole process group is killed and the test fails, saying so.
///
/// Started by a launcher already (`cargo blazer test -n N`, `mpirun -n N test-exe --exact
/// name`), the test runs the body in that world, whatever its size.
///
/// The function takes no arguments and returns `()` or `Result<(), E: Debug>`, like a
/// `#[test]`; other attributes (`#[ignore]`, doc comments) are kept. Options:
/// `ranks = N` (required), `timeout = "60s"` (`ms`, `s` or `m`; default 120 s) and
/// `crate = path` (as for `#[blazer::main]`). `#[should_panic]` is not supported.
///
/// ```ignore
/// #[blazer::task]
/// fn sqr(x: i64) -> i64 { x * x }
///
/// #[blazer::test(ranks = 4, timeout = "60s")]
/// fn squares_on_four_ranks() -> blazer::Result<()> {
///     assert_eq!(blazer::size(), 4);
///     assert_eq!(blazer::map(blazer::task::<sqr>(), vec![1, 2, 3])?, vec![1, 4, 9]);
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    match test_fn::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(e) => test_fn::on_error(item, e).into(),
    }
}

/// Composes tasks with the original blazer's language, type-checked at compile time.
///
/// ```ignore
/// let r = blazer! { pipeline[calc_stuff("DATA"), pipeline[calc_some, add_date], calc_stuff] }?;
/// let (n, text) = blazer! { pipeline[sqr(3), parallel[sqr, describe]] }?;
/// let total = blazer! { pipeline[map(sqr, vec![1, 2, 3, 4]), reduce(add)] }?;
/// ```
///
/// The grammar is in the crate documentation of `blazer`. `crate = path;` before the
/// composition names the path blazer is reached by when it is not `::blazer`:
/// `blazer! { crate = my_blazer; pipeline[...] }`.
#[proc_macro]
pub fn blazer(input: TokenStream) -> TokenStream {
    let input: proc_macro2::TokenStream = input.into();
    match compose::expand(input.clone()) {
        Ok(tokens) => tokens.into(),
        Err(e) => compose::on_error(input, e).into(),
    }
}
