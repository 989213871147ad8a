//! Option lists of the attribute macros (`#[blazer::task(gpu, crate = path)]`,
//! `#[blazer::main(crate = path)]`) and the `crate = path` option they share with `blazer!`.
//!
//! Every wrong option is its own error, spanned on the option: an unknown name, a name given
//! twice, a flag with a value, a value that is not a path.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::collections::HashSet;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, Path, Token};

/// An option a macro accepts: its name and how it is written, for the messages.
pub(crate) struct Known {
    pub(crate) name: &'static str,
    pub(crate) written: &'static str,
}

/// Parses `attr` as a comma-separated option list of `macro_name` and hands each option
/// with a known name, given once, to `each` as `(name, meta)`. Reports every error at once.
pub(crate) fn parse_list(
    attr: TokenStream,
    macro_name: &str,
    known: &[Known],
    mut each: impl FnMut(&str, &Meta) -> syn::Result<()>,
) -> syn::Result<()> {
    let list = syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, attr)?;
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for meta in &list {
        let name = meta.path().to_token_stream().to_string().replace(' ', "");
        if !known.iter().any(|k| k.name == name) {
            errors.push(syn::Error::new(
                meta.path().span(),
                format!(
                    "unknown option `{name}` of `{macro_name}`; {}",
                    describe(known)
                ),
            ));
        } else if !seen.insert(name.clone()) {
            errors.push(syn::Error::new(
                meta.span(),
                format!("`{name}` is given twice; keep one"),
            ));
        } else if let Err(e) = each(&name, meta) {
            errors.push(e);
        }
    }
    crate::errors::all(errors)
}

/// "its only option is `x`" or "its options are `x` and `y`".
fn describe(known: &[Known]) -> String {
    let written: Vec<String> = known.iter().map(|k| format!("`{}`", k.written)).collect();
    match written.as_slice() {
        [one] => format!("its only option is {one}"),
        [init @ .., last] => format!("its options are {} and {last}", init.join(", ")),
        [] => "it takes no options".to_string(),
    }
}

/// Checks that a flag option (`gpu`) is written bare.
pub(crate) fn flag(meta: &Meta, example: &str) -> syn::Result<()> {
    match meta {
        Meta::Path(_) => Ok(()),
        _ => Err(syn::Error::new(
            meta.span(),
            format!(
                "`{}` takes no value: write `{example}`",
                meta.path().to_token_stream()
            ),
        )),
    }
}

/// The default root of the generated paths: the `blazer` facade.
pub(crate) fn default_crate() -> Path {
    syn::parse_quote!(::blazer)
}

/// `path` as tokens spanned on `span` (the user's item or stage), as the rest of the generated
/// code is, so that errors in code that names it point there and read as the user's code.
pub(crate) fn respanned(path: &Path, span: Span) -> TokenStream {
    path.to_token_stream()
        .into_iter()
        .map(|mut tt| {
            tt.set_span(span);
            tt
        })
        .collect()
}

/// The value of a `crate = ...` option.
pub(crate) fn crate_path(meta: &Meta) -> syn::Result<Path> {
    match meta {
        Meta::NameValue(nv) => crate_path_of(&nv.value),
        _ => Err(syn::Error::new(meta.span(), CRATE_USAGE)),
    }
}

const CRATE_USAGE: &str = "`crate` takes the path blazer is reached by: `crate = my_blazer` \
                           for a renamed dependency, `crate = ::some::reexport::blazer`";

/// A path (`my_blazer`, `::a::b`), or a string holding one as serde and tokio write it.
fn crate_path_of(value: &Expr) -> syn::Result<Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Ok(p.path.clone()),
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => s
                .parse::<Path>()
                .map_err(|_| syn::Error::new(s.span(), CRATE_USAGE)),
            other => Err(syn::Error::new(other.span(), CRATE_USAGE)),
        },
        other => Err(syn::Error::new(other.span(), CRATE_USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_paths() {
        let path = |s: &str| {
            let e: Expr = syn::parse_str(s).unwrap();
            crate_path_of(&e).map(|p| p.to_token_stream().to_string())
        };
        assert_eq!(path("my_blazer").unwrap(), "my_blazer");
        assert_eq!(path("::a::b").unwrap(), ":: a :: b");
        assert_eq!(path("\"my_blazer\"").unwrap(), "my_blazer");
        assert!(path("1 + 2").is_err());
        assert!(path("\"not a path\"").is_err());
    }
}
