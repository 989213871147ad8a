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
