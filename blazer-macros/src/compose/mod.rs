//! `blazer!{ ... }`: the composition language of the original blazer (`pipeline[...]`,
//! `parallel[...]`, `map`, `reduce`, `scatter`, partial application), expanded into typed
//! runtime calls so that a wrongly plugged pipeline fails to compile.
//!
//! parse (`ast`, `parse`) → check (`check`) → codegen (`codegen`).

mod ast;
mod check;
mod codegen;
mod parse;

use proc_macro2::TokenStream;

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let node: ast::Node = syn::parse2(input)?;
    check::check(&node)?;
    Ok(codegen::top(&node))
}
