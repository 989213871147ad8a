//! Reporting several errors from one macro invocation at once.

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
