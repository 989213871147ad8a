//! `#[blazer::main]`: moves `main`'s body into a closure and hands it to
//! `blazer::run`, which starts MPI, runs it on rank 0 and serves tasks elsewhere.

use crate::options::{crate_path, default_crate, parse_list, Known};
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{ItemFn, Path};

const KNOWN: &[Known] = &[Known {
    name: "crate",
    written: "crate = path",
}];

/// `#[blazer::main(crate = path)]`: the path the generated code reaches blazer by.
fn parse_options(attr: TokenStream) -> syn::Result<Path> {
    let mut krate = default_crate();
    parse_list(attr, "#[blazer::main]", KNOWN, |_, meta| {
        krate = crate_path(meta)?;
        Ok(())
    })?;
    Ok(krate)
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (krate, func, ()) = crate::errors::options_and_fn(parse_options(attr), item, check)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let output = &sig.output;
    // A closure rather than a named inner function: a name would shadow the user's items of
    // that name inside the body.
    Ok(quote! {
        #(#attrs)*
        #vis fn main() -> ::std::process::ExitCode {
            #krate::run(|| #output #block)
        }
    })
}

/// The expansion when the attribute or the function is wrong: the errors, and the function as
/// written inside a stand-in `main`. Its body is still compiled (its own mistakes are
/// reported, IDEs keep working), but as an ordinary inner function, which rustc does not hold
/// to `main`'s rules: a mistake in the signature is reported once, by the macro. The stand-in
/// keeps rustc from adding "`main` function not found".
pub(crate) fn on_error(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.into_compile_error();
    quote! {
        #errors
        fn main() {
            #[allow(dead_code)]
            #item
        }
    }
}

fn check(func: &ItemFn) -> syn::Result<()> {
    let s = &func.sig;
    let mut errors = Vec::new();
    if s.ident != "main" {
        errors.push(syn::Error::new(
            s.ident.span(),
            format!(
                "`#[blazer::main]` goes on `fn main`: rename `{}` to `main`",
                s.ident
            ),
        ));
    }
    if let Some(a) = &s.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "`#[blazer::main]` cannot be `async`: remove `async`, and block on futures inside \
             the body if it needs them",
        ));
    }
    if !s.inputs.is_empty() {
        errors.push(syn::Error::new(
            s.inputs.span(),
            "`fn main` takes no arguments: remove them, and read the command line with \
             `std::env::args()`",
        ));
    }
    if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            s.generics.span(),
            "`fn main` cannot be generic: remove its generic parameters",
        ));
    }
    crate::errors::all(errors)
}
