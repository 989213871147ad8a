//! Reporting several errors from one macro invocation at once.

use proc_macro2::TokenStream;
use syn::ItemFn;

/// `Ok(())` when `errors` is empty, else one `syn::Error` that reports all of them, each on
/// its own span.
pub(crate) fn all(errors: Vec<syn::Error>) -> syn::Result<()> {
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            errors.for_each(|e| first.combine(e));
            Err(first)
        }
    }
}

/// An attribute's parsed `options` and the function `item` it is on, parsed and passed
/// through `check`: the three results, or one error with every option and signature error
/// at once (so fixing one does not just reveal the next).
pub(crate) fn options_and_fn<O, C>(
    options: syn::Result<O>,
    item: TokenStream,
    check: impl FnOnce(&ItemFn) -> syn::Result<C>,
) -> syn::Result<(O, ItemFn, C)> {
    let func = syn::parse2::<ItemFn>(item);
    let checked = func.as_ref().map_err(Clone::clone).and_then(check);
    all([options.as_ref().err(), checked.as_ref().err()]
        .into_iter()
        .flatten()
        .cloned()
        .collect())?;
    Ok((options?, func?, checked?))
}
