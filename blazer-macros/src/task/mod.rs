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
    let options = options::parse(attr);
    let func = syn::parse2::<ItemFn>(item);
    // Report option and signature errors together.
    let (options, func) = match (options, func) {
        (Ok(o), Ok(f)) => (o, f),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let sig = signature::check(&func)?;
    Ok(codegen::codegen(&func, &sig, &options))
}
