//! Lowers a checked [`Node`] to calls of the runtime's documented functions
//! (`blazer::call`, `task`, `partial`, `fork`, `Flow::then`, `pipeline`, `parallel`, `map`,
//! `reduce`, `scatter`), each spanned on the user's tokens so that type errors point at the
//! offending stage.

use super::ast::{self, DataKind, Node};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{Expr, Path};

/// The code generator of one `blazer!` invocation.
pub(super) struct Gen {
    /// The path the generated code reaches blazer by (`::blazer` unless `crate = path;`).
    pub(super) krate: Path,
}

impl Gen {
    /// The crate path located at `span`, so that errors in code naming it point at the stage.
    fn krate(&self, span: Span) -> TokenStream {
        crate::options::respanned(&self.krate, span)
    }

    /// The whole expression: evaluates to `blazer::Result<T>`.
    pub(super) fn top(&self, node: &Node) -> TokenStream {
        match node {
            Node::Pipeline { stages, .. } => self.pipeline(stages),
            Node::Parallel {
                branches,
                as_vec,
                span,
            } if *as_vec || ast::homogeneous(branches) => {
                let krate = self.krate(*span);
                let calls = branches.iter().map(|b| self.call(b));
                quote_spanned!(*span=> #krate::parallel(::std::vec![#(#calls),*]))
            }
            Node::Parallel { span, .. } | Node::Task { span, .. } | Node::Const { span, .. } => {
                let krate = self.krate(*span);
                let c = self.call(node);
                quote_spanned!(*span=> #krate::pipeline(#c))
            }
            Node::Data {
                kind,
                stage,
                data,
                span,
            } => self.data_primitive(*kind, stage, quote!(#data), *span),
        }
    }

    /// A top-level pipeline: runs of plain stages become one `Flow` (shipped as one job);
    /// data primitives run on the driver between them, each fed by the value before.
    fn pipeline(&self, stages: &[Node]) -> TokenStream {
        let flat = flatten(stages);
        let mut code: Option<TokenStream> = None;
        let mut run: Vec<&Node> = Vec::new();
        for stage in flat {
            if let Node::Data {
                kind,
                stage: inner,
                data,
                span,
            } = stage
            {
                code = Some(self.flush(code, &mut run));
                code = Some(match code.take() {
                    // A leading data primitive brings its own data.
                    Some(prev) if !prev.is_empty() => {
                        let value = value_var(*span);
                        let body = self.data_primitive(*kind, inner, quote!(#value), *span);
                        quote_spanned!(*span=> #prev.and_then(|#value| #body))
                    }
                    _ => self.data_primitive(*kind, inner, quote!(#data), *span),
                });
            } else {
                run.push(stage);
            }
        }
        self.flush(code, &mut run)
    }

    /// Emits the pending run of plain stages after `prev` (or as the start of the pipeline).
    fn flush(&self, prev: Option<TokenStream>, run: &mut Vec<&Node>) -> TokenStream {
        let stages: Vec<&Node> = std::mem::take(run);
        let Some((first, rest)) = stages.split_first() else {
            return prev.unwrap_or_default();
        };
        let span = first.span();
        match prev {
            None => {
                let chain = rest
                    .iter()
                    .fold(self.call(first), |chain, stage| self.then(chain, stage));
                let krate = self.krate(span);
                quote_spanned!(span=> #krate::pipeline(#chain))
            }
            Some(prev) => {
                let chain = rest
                    .iter()
                    .fold(self.flow(first), |chain, stage| self.then(chain, stage));
                let value = value_var(span);
                quote_spanned!(span=> #prev.and_then(|#value| #chain.run(#value)))
            }
        }
    }

    /// `chain.then(stage)`, spanned on the stage: a type mismatch is reported there.
    fn then(&self, chain: TokenStream, stage: &Node) -> TokenStream {
        let next = self.flow(stage);
        let span = stage.span();
        quote_spanned!(span=> #chain.then(#next))
    }

    /// `map(stage, data)`, `reduce(stage, data)` or `scatter(data, stage)` on the driver.
    fn data_primitive(
        &self,
        kind: DataKind,
        stage: &Node,
        data: TokenStream,
        span: Span,
    ) -> TokenStream {
        let krate = self.krate(span);
        let f = self.flow(stage);
        match kind {
            DataKind::Map => quote_spanned!(span=> #krate::map(#f, #data)),
            DataKind::Reduce => quote_spanned!(span=> #krate::reduce(#f, #data)),
            DataKind::Scatter => quote_spanned!(span=> #krate::scatter(#data, #f)),
        }
    }

    /// A stage that receives an input: a `Flow<In, Out>`.
    fn flow(&self, node: &Node) -> TokenStream {
        let krate = self.krate(node.span());
        match node {
            Node::Task {
                path,
                args: None,
                span,
            } => quote_spanned!(*span=> #krate::task::<#path>()),
            Node::Task {
                path,
                args: Some(args),
                span,
            } => {
                let arity = self.arity_check(path, args.len() + 1, *span);
                let head = bundle(args);
                quote_spanned!(*span=> { #arity #krate::partial::<#path>(#head) })
            }
            Node::Pipeline { stages, .. } => {
                let (first, rest) = stages.split_first().expect("checked non-empty");
                rest.iter()
                    .fold(self.flow(first), |chain, stage| self.then(chain, stage))
            }
            Node::Parallel {
                branches,
                as_vec,
                span,
            } => {
                let flows: Vec<TokenStream> = branches.iter().map(|b| self.flow(b)).collect();
                self.fork(branches, *as_vec, &flows, *span)
            }
            Node::Const { value, span } => quote_spanned!(*span=> #krate::constant(#value)),
            // Rejected by the check.
            Node::Data { span, .. } => {
                quote_spanned!(*span=> ::std::compile_error!("unreachable"))
            }
        }
    }

    /// A stage without input: a `Flow<(), Out>` with all arguments bound.
    fn call(&self, node: &Node) -> TokenStream {
        let krate = self.krate(node.span());
        match node {
            Node::Task { path, args, span } => {
                let args = args.as_deref().unwrap_or(&[]);
                let arity = self.arity_check(path, args.len(), *span);
                let input = bundle(args);
                quote_spanned!(*span=> { #arity #krate::call::<#path>(#input) })
            }
            Node::Pipeline { stages, .. } => {
                let (first, rest) = stages.split_first().expect("checked non-empty");
                rest.iter()
                    .fold(self.call(first), |chain, stage| self.then(chain, stage))
            }
            Node::Parallel {
                branches,
                as_vec,
                span,
            } => {
                let calls: Vec<TokenStream> = branches.iter().map(|b| self.call(b)).collect();
                self.fork(branches, *as_vec, &calls, *span)
            }
            Node::Const { value, span } => {
                quote_spanned!(*span=> #krate::constant::<(), _>(#value))
            }
            Node::Data { span, .. } => {
                quote_spanned!(*span=> ::std::compile_error!("unreachable"))
            }
        }
    }

    /// `fork(vec![...])` for branches of one task (or `as Vec`), `fork((...))` otherwise.
    fn fork(
        &self,
        branches: &[Node],
        as_vec: bool,
        flows: &[TokenStream],
        span: Span,
    ) -> TokenStream {
        let krate = self.krate(span);
        if as_vec || ast::homogeneous(branches) {
            quote_spanned!(span=> #krate::fork(::std::vec![#(#flows),*]))
        } else {
            quote_spanned!(span=> #krate::fork((#(#flows,)*)))
        }
    }

    /// A compile-time check that the task takes `given` arguments, with a message naming both.
    fn arity_check(&self, path: &Path, given: usize, span: Span) -> TokenStream {
        let krate = self.krate(span);
        let name = path.to_token_stream().to_string().replace(' ', "");
        let here = match given {
            0 => "it is called with none here".to_string(),
            1 => "it gets 1 here".to_string(),
            n => format!("it gets {n} here (bound arguments plus the stage input)"),
        };
        let given = proc_macro2::Literal::usize_unsuffixed(given);
        quote_spanned!(span=> #krate::__private::assert_arity!(#path, #given, #name, #here);)
    }
}

/// The closure parameter that carries a value between driver-side steps. It resolves at the
/// macro (`mixed_site`), so a user's `value` in a stage argument still means the user's.
fn value_var(span: Span) -> Ident {
    Ident::new("value", Span::mixed_site().located_at(span))
}

/// Nested `pipeline[...]` stages of a pipeline are spliced into it.
fn flatten(stages: &[Node]) -> Vec<&Node> {
    stages
        .iter()
        .flat_map(|s| match s {
            Node::Pipeline { stages, .. } => flatten(stages),
            other => vec![other],
        })
        .collect()
}

/// Arguments as the task's one input value: `()`, `a`, or `(a, b, ...)`, each converted
/// with `Into` so that literals such as `"DATA"` fit an owned parameter type.
fn bundle(args: &[Expr]) -> TokenStream {
    let conv: Vec<TokenStream> = args
        .iter()
        .map(|a| {
            let span = syn::spanned::Spanned::span(a);
            quote_spanned!(span=> ::std::convert::Into::into(#a))
        })
        .collect();
    match conv.as_slice() {
        [] => quote!(()),
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    }
}
