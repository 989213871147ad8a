//! `#[blazer::task]`: keeps the function as written and adds a marker type of the same name
//! (type namespace only) that implements `blazer::Task`, plus its registry entry.
//!
//! options (`options`) and signature checks (`signature`) → codegen (`codegen`).

mod codegen;
mod options;
mod signature;

use proc_macro2::TokenStream;
use syn::ItemFn;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // Report option and signature errors together.
    let options = options::parse(attr);
    let func = syn::parse2::<ItemFn>(item);
    let sig = func
        .as_ref()
        .map_err(Clone::clone)
        .and_then(signature::check);
    crate::errors::all(
        [options.as_ref().err(), sig.as_ref().err()]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
    )?;
    let (options, func, sig) = (options?, func?, sig?);
    Ok(codegen::codegen(&func, &sig, &options))
}
