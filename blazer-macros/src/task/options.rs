//! The options of `#[blazer::task(...)]`, parsed into a typed [`Options`].

use crate::options::{crate_path, default_crate, flag, parse_list, Known};
use proc_macro2::TokenStream;
use syn::Path;

/// Options of the attribute: `#[blazer::task]`, `#[blazer::task(gpu)]`,
/// `#[blazer::task(crate = path)]`.
pub(crate) struct Options {
    /// Hold a GPU of the rank's node while the task runs.
    pub(crate) gpu: bool,
    /// The path the generated code reaches blazer by (`::blazer` unless renamed).
    pub(crate) krate: Path,
}

const KNOWN: &[Known] = &[
    Known {
        name: "gpu",
        written: "gpu",
    },
    Known {
        name: "crate",
        written: "crate = path",
    },
];

/// Parses the attribute's arguments; every wrong option is its own error.
pub(crate) fn parse(attr: TokenStream) -> syn::Result<Options> {
    let mut options = Options {
        gpu: false,
        krate: default_crate(),
    };
    parse_list(attr, "#[blazer::task]", KNOWN, |name, meta| {
        match name {
            "gpu" => {
                flag(meta, "#[blazer::task(gpu)]")?;
                options.gpu = true;
            }
            "crate" => options.krate = crate_path(meta)?,
            other => unreachable!("`{other}` is not in KNOWN"),
        }
        Ok(())
    })?;
    Ok(options)
}
