//! The options of `#[blazer::task(...)]`, parsed into a typed [`Options`].

use proc_macro2::TokenStream;

/// Options of the attribute: `#[blazer::task]` or `#[blazer::task(gpu)]`.
#[derive(Default)]
pub(crate) struct Options {
    /// Hold a GPU of the rank's node while the task runs.
    pub(crate) gpu: bool,
}

/// Parses the attribute's arguments.
pub(crate) fn parse(attr: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("gpu") {
            options.gpu = true;
            Ok(())
        } else {
            Err(meta.error("unknown task option; the only option is `gpu`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(options)
}
