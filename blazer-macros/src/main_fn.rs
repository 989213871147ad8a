//! `#[blazer::main]`: moves `main`'s body into a closure and hands it to
//! `blazer::run`, which starts MPI, runs it on rank 0 and serves tasks elsewhere.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::ItemFn;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            attr.span(),
            "`#[blazer::main]` takes no arguments",
        ));
    }
    let func: ItemFn = syn::parse2(item)?;
    check(&func)?;
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
            ::blazer::run(|| #output #block)
        }
    })
}

fn check(func: &ItemFn) -> syn::Result<()> {
    let s = &func.sig;
    let mut errors = Vec::new();
    if s.ident != "main" {
        errors.push(syn::Error::new(
            s.ident.span(),
            "`#[blazer::main]` goes on `fn main`",
        ));
    }
    if let Some(a) = &s.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "`#[blazer::main]` cannot be `async`",
        ));
    }
    if !s.inputs.is_empty() {
        errors.push(syn::Error::new(
            s.inputs.span(),
            "`fn main` takes no arguments",
        ));
    }
    if !s.generics.params.is_empty() {
        errors.push(syn::Error::new(
            s.generics.span(),
            "`fn main` cannot be generic",
        ));
    }
    crate::errors::all(errors)
}
