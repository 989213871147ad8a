//! `#[blazer::test(ranks = N)]`: a `#[test]` whose body runs under blazer's runtime on N
//! ranks. Under `cargo test` (a world of one) the test relaunches its own executable under
//! the launcher; the relaunched ranks run the body as `#[blazer::main]` runs `main`'s.

use crate::options::{crate_path, default_crate, parse_list, Known};
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, Meta, Path};

const KNOWN: &[Known] = &[
    Known {
        name: "ranks",
        written: "ranks = N",
    },
    Known {
        name: "timeout",
        written: "timeout = \"60s\"",
    },
    Known {
        name: "crate",
        written: "crate = path",
    },
];

/// The default time limit, in milliseconds: 120 s.
const DEFAULT_TIMEOUT_MS: u64 = 120_000;

struct Options {
    ranks: u32,
    timeout_ms: u64,
    krate: Path,
}

fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let span = attr.span();
    let mut krate = default_crate();
    let mut ranks = None;
    let mut timeout_ms = DEFAULT_TIMEOUT_MS;
    parse_list(attr, "#[blazer::test]", KNOWN, |name, meta| {
        match name {
            "crate" => krate = crate_path(meta)?,
            "ranks" => ranks = Some(ranks_of(meta)?),
            _ => timeout_ms = timeout_of(meta)?,
        }
        Ok(())
    })?;
    let Some(ranks) = ranks else {
        return Err(syn::Error::new(
            span,
            "`#[blazer::test]` needs the number of ranks to run on: `#[blazer::test(ranks = 4)]`",
        ));
    };
    Ok(Options {
        ranks,
        timeout_ms,
        krate,
    })
}

fn value(meta: &Meta) -> Option<&Expr> {
    match meta {
        Meta::NameValue(nv) => Some(&nv.value),
        _ => None,
    }
}

const RANKS_USAGE: &str = "`ranks` takes the number of ranks, 1 or more: `ranks = 4`";

fn ranks_of(meta: &Meta) -> syn::Result<u32> {
    let err = || syn::Error::new(meta.span(), RANKS_USAGE);
    match value(meta) {
        Some(Expr::Lit(l)) => match &l.lit {
            Lit::Int(i) => match i.base10_parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(syn::Error::new(i.span(), RANKS_USAGE)),
            },
            other => Err(syn::Error::new(other.span(), RANKS_USAGE)),
        },
        _ => Err(err()),
    }
}

const TIMEOUT_USAGE: &str =
    "`timeout` takes a duration in a string: `timeout = \"90s\"`, `\"500ms\"`, `\"5m\"`";

fn timeout_of(meta: &Meta) -> syn::Result<u64> {
    match value(meta) {
        Some(Expr::Lit(l)) => match &l.lit {
            Lit::Str(s) => {
                duration_ms(&s.value()).ok_or_else(|| syn::Error::new(s.span(), TIMEOUT_USAGE))
            }
            other => Err(syn::Error::new(other.span(), TIMEOUT_USAGE)),
        },
        _ => Err(syn::Error::new(meta.span(), TIMEOUT_USAGE)),
    }
}

/// `"90s"`, `"500ms"`, `"5m"` in milliseconds; `None` for anything else or zero: the
/// launcher's own reading (`blazer_launch::parse_duration`), so the attribute and
/// `cargo blazer test --timeout` agree.
fn duration_ms(text: &str) -> Option<u64> {
    blazer_launch::parse_duration(text).and_then(|d| u64::try_from(d.as_millis()).ok())
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let (
        Options {
            ranks,
            timeout_ms,
            krate,
        },
        func,
        (),
    ) = crate::errors::options_and_fn(parse_options(attr), item, check)?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let name = &sig.ident;
    // `-> ()` spelled out for a body without a return type: a body that only panics would
    // otherwise make the closure's type `!`, which falls back to `()` with a lint.
    let output = match &sig.output {
        syn::ReturnType::Default => quote!(-> ()),
        ty => quote!(#ty),
    };
    Ok(quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() {
            #krate::__test::run(
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                #ranks,
                ::core::time::Duration::from_millis(#timeout_ms),
                || #output #block,
            )
        }
    })
}

/// The expansion when the attribute or the function is wrong: the errors, and the function as
/// written, so that its body is still checked and its callers add no errors of their own.
pub(crate) fn on_error(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.into_compile_error();
    quote! {
        #errors
        #[allow(dead_code)]
        #item
    }
}

fn check(func: &ItemFn) -> syn::Result<()> {
    let s = &func.sig;
    let mut errors = Vec::new();
    for attr in &func.attrs {
        let last = attr.path().segments.last().map(|s| s.ident.to_string());
        match last.as_deref() {
            Some("test") => errors.push(syn::Error::new(
                attr.meta.span(),
                "remove this `#[test]`: `#[blazer::test]` makes the function a test itself",
            )),
            Some("should_panic") => errors.push(syn::Error::new(
                attr.meta.span(),
                "`#[blazer::test]` does not support `#[should_panic]`: the body runs in other \
                 processes; return a `Result` and check the error inside the body instead",
            )),
            _ => {}
        }
    }
    if let Some(a) = &s.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "`#[blazer::test]` cannot be `async`: remove `async`, and block on futures inside \
             the body if it needs them",
        ));
    }
    if !s.inputs.is_empty() {
        errors.push(syn::Error::new(
            s.inputs.span(),
            "a `#[blazer::test]` takes no arguments: remove them",
        ));
    }
    if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            s.generics.span(),
            "a `#[blazer::test]` cannot be generic: remove its generic parameters",
        ));
    }
    crate::errors::all(errors)
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("90s"), Some(90_000));
        assert_eq!(duration_ms("500ms"), Some(500));
        assert_eq!(duration_ms("5m"), Some(300_000));
        assert_eq!(duration_ms(" 2 s"), Some(2_000));
        assert_eq!(duration_ms("0s"), None);
        assert_eq!(duration_ms("90"), None);
        assert_eq!(duration_ms("1h"), None);
        assert_eq!(duration_ms("-1s"), None);
    }
}
