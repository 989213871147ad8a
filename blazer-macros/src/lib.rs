//! Procedural macros of blazer. Use them through the `blazer` facade:
//! `#[blazer::task]`, `#[blazer::main]` and `blazer::blazer!`.
//!
//! Each macro is parse → check → codegen, with every error a `syn::Error` spanned on the
//! user's code; the generated code calls named, documented functions of the runtime.

use proc_macro::TokenStream;

mod compose;
mod main_fn;
mod task;

/// Makes a plain function a blazer task. See `blazer::task` for the documentation.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs `main`'s body on rank 0 while the other ranks serve tasks. See `blazer::main`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    main_fn::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Composes tasks with the original blazer's language, type-checked at compile time.
/// See `blazer::blazer!` for the grammar.
#[proc_macro]
pub fn blazer(input: TokenStream) -> TokenStream {
    compose::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
