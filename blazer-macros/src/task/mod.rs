//! `#[blazer::task]`: keeps the function as written and adds a marker type of the same name
//! (type namespace only) that implements `blazer::Task`, plus its registry entry.
//!
//! options (`options`) and signature checks (`signature`) → codegen (`codegen`).

mod codegen;
mod options;
mod signature;

use proc_macro2::TokenStream;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (options, func, sig) =
        crate::errors::options_and_fn(options::parse(attr), item, signature::check)?;
    Ok(codegen::codegen(&func, &sig, &options))
}
