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
    let invocation: ast::Invocation = syn::parse2(input)?;
    check::check(&invocation.root)?;
    let gen = codegen::Gen {
        krate: invocation.krate,
    };
    Ok(gen.top(&invocation.root))
}

/// The expansion of an input with errors: the errors, in an expression of the type a
/// `blazer!` has, so that they are not followed by type errors.
pub(crate) fn on_error(input: TokenStream, errors: syn::Error) -> TokenStream {
    // The rest of the input is not looked at: it may be what has the errors.
    let crate_only = |input: syn::parse::ParseStream| {
        let krate = parse::crate_option(input)?;
        input.parse::<TokenStream>()?;
        Ok(krate)
    };
    let krate = syn::parse::Parser::parse2(crate_only, input)
        .ok()
        .flatten()
        .unwrap_or_else(crate::options::default_crate);
    let errors = errors.into_compile_error();
    quote::quote!({ #errors #krate::__private::unreachable_result() })
}
