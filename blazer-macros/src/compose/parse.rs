//! Parses the grammar:
//!
//! ```text
//! input := ["crate" "=" path ";"] node
//! node := "pipeline" "[" node,+ "]" | "parallel" "[" node,+ "]"
//!       | "map" "(" node ["," expr] ")" | "reduce" "(" node ["," expr] ")"
//!       | "scatter" "(" [expr ","] node ")" | "constant" "(" expr ")"
//!       | "dataset" "[" item,+ "]"
//!       | path ["(" expr,* ")"]
//! item := ident ["(" expr,* ")"]
//! ```

use super::ast::{DataItem, DataKind, Invocation, Node};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{bracketed, parenthesized, Expr, Ident, LitStr, Path, Token};

impl Parse for Invocation {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let krate = crate_option(input)?;
        Ok(Invocation {
            krate: krate.unwrap_or_else(crate::options::default_crate),
            root: input.parse()?,
        })
    }
}

/// `crate = path;` before the composition, if written: the path blazer is reached by (a
/// path, or a string holding one as serde and tokio write it).
pub(super) fn crate_option(input: ParseStream) -> syn::Result<Option<Path>> {
    if !(input.peek(Token![crate]) && input.peek2(Token![=])) {
        return Ok(None);
    }
    input.parse::<Token![crate]>()?;
    input.parse::<Token![=]>()?;
    let path = if input.peek(LitStr) {
        input.parse::<LitStr>()?.parse::<Path>()?
    } else {
        input.parse::<Path>()?
    };
    input.parse::<Token![;]>()?;
    if input.peek(Token![crate]) && input.peek2(Token![=]) {
        return Err(input.error("`crate` is given twice; keep one"));
    }
    Ok(Some(path))
}

impl Parse for Node {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(syn::token::Bracket) {
            let keyword: Ident = input.parse()?;
            let content;
            bracketed!(content in input);
            if keyword == "dataset" {
                return parse_dataset(keyword, &content);
            }
            let items: Punctuated<Node, Token![,]> =
                content.parse_terminated(Node::parse, Token![,])?;
            let span = keyword.span();
            let items: Vec<Node> = items.into_iter().collect();
            if items.is_empty() {
                return Err(syn::Error::new(
                    span,
                    format!("`{keyword}[]` needs at least one stage"),
                ));
            }
            return match keyword.to_string().as_str() {
                "pipeline" => Ok(Node::Pipeline {
                    stages: items,
                    span,
                }),
                "parallel" => {
                    // `parallel[...] as Vec` asks for a `Vec` even when the branches differ.
                    let as_vec = if input.peek(Token![as]) {
                        input.parse::<Token![as]>()?;
                        let ty: Ident = input.parse()?;
                        if ty != "Vec" {
                            return Err(syn::Error::new(ty.span(), "expected `as Vec`"));
                        }
                        true
                    } else {
                        false
                    };
                    Ok(Node::Parallel {
                        branches: items,
                        as_vec,
                        span,
                    })
                }
                other => Err(syn::Error::new(
                    span,
                    format!(
                        "unknown form `{other}[...]`: expected `pipeline[...]`, `parallel[...]` or `dataset[...]`"
                    ),
                )),
            };
        }
        if input.peek(Ident) && input.peek2(syn::token::Paren) {
            let ahead = input.fork();
            let keyword: Ident = ahead.parse()?;
            let kind = match keyword.to_string().as_str() {
                "map" => Some(DataKind::Map),
                "reduce" => Some(DataKind::Reduce),
                "scatter" => Some(DataKind::Scatter),
                "constant" => {
                    let keyword: Ident = input.parse()?;
                    let content;
                    parenthesized!(content in input);
                    let value: Expr = content.parse()?;
                    return Ok(Node::Const {
                        value,
                        span: keyword.span(),
                    });
                }
                "pipeline" | "parallel" => {
                    return Err(syn::Error::new(
                        keyword.span(),
                        format!("`{keyword}` takes its stages in brackets: `{keyword}[a, b, ...]`"),
                    ))
                }
                _ => None,
            };
            if let Some(kind) = kind {
                let keyword: Ident = input.parse()?;
                let content;
                parenthesized!(content in input);
                return parse_data(kind, keyword, &content);
            }
        }
        let path: Path = input.parse()?;
        let span = path.span();
        let args = if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            let args: Punctuated<Expr, Token![,]> =
                content.parse_terminated(Expr::parse, Token![,])?;
            Some(args.into_iter().collect())
        } else {
            None
        };
        Ok(Node::Task { path, args, span })
    }
}

/// `map(stage[, data])`, `reduce(stage[, data])`, `scatter([data,] stage)`.
fn parse_data(kind: DataKind, keyword: Ident, content: ParseStream) -> syn::Result<Node> {
    let span = keyword.span();
    if content.is_empty() {
        return Err(syn::Error::new(
            span,
            format!("`{keyword}(...)` needs a task"),
        ));
    }
    let (stage, data) = if kind == DataKind::Scatter {
        // `scatter(data, stage)` when an expression and a comma come first.
        let ahead = content.fork();
        if ahead.parse::<Expr>().is_ok() && ahead.peek(Token![,]) {
            let data: Expr = content.parse()?;
            content.parse::<Token![,]>()?;
            (content.parse::<Node>()?, Some(data))
        } else {
            (content.parse::<Node>()?, None)
        }
    } else {
        let stage: Node = content.parse()?;
        let data = if content.peek(Token![,]) {
            content.parse::<Token![,]>()?;
            if content.is_empty() {
                None
            } else {
                Some(content.parse::<Expr>()?)
            }
        } else {
            None
        };
        (stage, data)
    };
    if content.peek(Token![,]) {
        content.parse::<Token![,]>()?;
    }
    if !content.is_empty() {
        return Err(content.error(format!("unexpected tokens in `{keyword}(...)`")));
    }
    Ok(Node::Data {
        kind,
        stage: Box::new(stage),
        data,
        span,
    })
}

/// `dataset[item, ...]`: each item a name with its arguments, checked in `check.rs`.
fn parse_dataset(keyword: Ident, content: ParseStream) -> syn::Result<Node> {
    let parse_item = |input: ParseStream| -> syn::Result<DataItem> {
        let name: Ident = input.parse()?;
        let args = if input.peek(syn::token::Paren) {
            let inner;
            parenthesized!(inner in input);
            let args: Punctuated<Expr, Token![,]> =
                inner.parse_terminated(Expr::parse, Token![,])?;
            args.into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(DataItem { name, args })
    };
    let items: Punctuated<DataItem, Token![,]> = content.parse_terminated(parse_item, Token![,])?;
    let span = keyword.span();
    if items.is_empty() {
        return Err(syn::Error::new(span, "`dataset[]` needs at least one item"));
    }
    Ok(Node::Dataset {
        items: items.into_iter().collect(),
        span,
    })
}
