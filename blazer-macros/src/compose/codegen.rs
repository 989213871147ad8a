//! Lowers a checked [`Node`] to calls of the runtime's documented functions (`blazer::task`,
//! `constant`, `fork`, `pipeline`, `parallel`, `map`, `reduce`, `scatter`) and of the checked
//! forms of `call`, `partial`, `Flow::then`, `fork` and `Flow::run` in `blazer::__private`,
//! each spanned on the user's tokens. The checked forms state a stage's fit as a bound (or,
//! for the number of arguments, a const check) instead of unifying types, so a stage that
//! does not fit is one error on that stage and every type after it is still known.

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
            Node::Dataset { items, span } => self.dataset(items, None, *span),
        }
    }

    /// A `dataset[...]`: `blazer::Dataset` method calls, each task named by type on its own
    /// tokens, so that a task whose input is not the dataset's items is reported there.
    /// `input`: the stage before's output, scattered.
    fn dataset(
        &self,
        items: &[ast::DataItem],
        input: Option<TokenStream>,
        span: Span,
    ) -> TokenStream {
        let krate = self.krate(span);
        let mut items = items.iter();
        let mut code = match input {
            Some(value) => quote_spanned!(span=> #krate::Dataset::scatter(#value)),
            None => {
                let source = items.next().expect("checked: a source");
                let name = &source.name;
                let args = &source.args;
                match name.to_string().as_str() {
                    "generate" => {
                        let (task, n) = (&args[0], &args[1]);
                        quote_spanned!(name.span()=> #krate::Dataset::generate::<#task>(#n))
                    }
                    _ => quote_spanned!(name.span()=> #krate::Dataset::#name(#(#args),*)),
                }
            }
        };
        let mut action = None;
        for item in items {
            let name = &item.name;
            let args = &item.args;
            let at = name.span();
            let call = match name.to_string().as_str() {
                "map" | "filter" | "flat_map" | "map_partitions" | "reduce_by_key" | "reduce" => {
                    let task = &args[0];
                    quote_spanned!(at=> #name::<#task>())
                }
                "map_overlap" => {
                    let (task, halo, border) = (&args[0], &args[1], &args[2]);
                    quote_spanned!(at=> map_overlap::<#task>(#halo, #krate::Border::#border))
                }
                "fold" => {
                    let (step, combine, zero) = (&args[0], &args[1], &args[2]);
                    quote_spanned!(at=> fold::<#step, #combine>(#zero))
                }
                _ => quote_spanned!(at=> #name(#(#args),*)),
            };
            match item.role() {
                Some((ast::DataRole::Action, _)) => action = Some(call),
                _ => code = quote_spanned!(at=> #code.#call),
            }
        }
        match action {
            Some(action) => quote_spanned!(span=> (#code).#action),
            None => quote_spanned!(span=> ::std::result::Result::<_, #krate::Error>::Ok(#code)),
        }
    }

    /// A top-level pipeline: runs of plain stages become one `Flow` (shipped as one job);
    /// data primitives run on the driver between them, each fed by the value before.
    fn pipeline(&self, stages: &[Node]) -> TokenStream {
        let flat = flatten(stages);
        let mut code: Option<TokenStream> = None;
        let mut run: Vec<&Node> = Vec::new();
        for stage in flat {
            if let Node::Dataset { items, span } = stage {
                code = Some(self.flush(code, &mut run));
                code = Some(match code.take() {
                    Some(prev) if !prev.is_empty() => {
                        let value = value_var(*span);
                        let body = self.dataset(items, Some(quote!(#value)), *span);
                        quote_spanned!(*span=> #prev.and_then(|#value| #body))
                    }
                    _ => self.dataset(items, None, *span),
                });
            } else if let Node::Data {
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
                let run = if input_is_fixed(first) {
                    let krate = self.krate(span);
                    quote_spanned!(span=> #krate::__private::run_checked(&#chain, #value))
                } else {
                    quote_spanned!(span=> #chain.run(#value))
                };
                quote_spanned!(span=> #prev.and_then(|#value| #run))
            }
        }
    }

    /// `chain` then `stage`, spanned on the stage: a stage that does not fit is reported
    /// there. Where the stage's input type is its own, the fit is a bound of `then_checked`
    /// (one error naming both types); a `constant` takes its input type from the stage before.
    fn then(&self, chain: TokenStream, stage: &Node) -> TokenStream {
        let next = self.flow(stage);
        let span = stage.span();
        if input_is_fixed(stage) {
            let krate = self.krate(span);
            quote_spanned!(span=> #krate::__private::then_checked(#chain, #next))
        } else {
            quote_spanned!(span=> #chain.then(#next))
        }
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
                let given = self.arity(path, args.len() + 1, true, *span);
                let head = bundle(args);
                quote_spanned!(*span=> #krate::__private::partial_given::<#path, #given>(#head))
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
            Node::Data { span, .. } | Node::Dataset { span, .. } => {
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
                let given = self.arity(path, args.len(), false, *span);
                let input = bundle(args);
                quote_spanned!(*span=> #krate::__private::call_given::<#path, #given>(#input))
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
            Node::Data { span, .. } | Node::Dataset { span, .. } => {
                quote_spanned!(*span=> ::std::compile_error!("unreachable"))
            }
        }
    }

    /// `fork(vec![...])` for branches of one task (or `as Vec`), else a tuple: `forkN(...)`,
    /// which checks each branch's input against the first's as a bound, when every branch has
    /// an input type of its own (a `constant` takes it from the others: `fork((...))`).
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
        } else if branches.len() <= 8 && branches.iter().all(input_is_fixed) {
            let checked = Ident::new(&format!("fork{}", branches.len()), span);
            quote_spanned!(span=> #krate::__private::#checked(#(#flows),*))
        } else {
            quote_spanned!(span=> #krate::fork((#(#flows,)*)))
        }
    }

    /// `{ arity!(...) }`: the number of arguments `given`, as a const generic argument that
    /// fails to compile, naming both counts and what to write, when the task takes another
    /// number. `with_input`: the stage gets the stage input as its last argument.
    fn arity(&self, path: &Path, given: usize, with_input: bool, span: Span) -> TokenStream {
        let krate = self.krate(span);
        let name = path.to_token_stream().to_string().replace(' ', "");
        let form = Ident::new(if with_input { "partial" } else { "call" }, span);
        // In words: the stage gives `given` arguments, or binds all but the stage input.
        let count = match given - usize::from(with_input) {
            0 => "none".to_string(),
            n => n.to_string(),
        };
        let given = proc_macro2::Literal::usize_unsuffixed(given);
        quote_spanned!(span=> { #krate::__private::arity!(#form, #path, #given, #name, #count) })
    }
}

/// The closure parameter that carries a value between driver-side steps. It resolves at the
/// macro (`mixed_site`), so a user's `value` in a stage argument still means the user's.
fn value_var(span: Span) -> Ident {
    Ident::new("value", Span::mixed_site().located_at(span))
}

/// True when the stage's input type is set by a task in it, not by the stage before: every
/// stage but `constant`, and forms that start with or contain only `constant`.
fn input_is_fixed(node: &Node) -> bool {
    match node {
        Node::Task { .. } => true,
        Node::Const { .. } | Node::Data { .. } | Node::Dataset { .. } => false,
        Node::Pipeline { stages, .. } => stages.first().is_some_and(input_is_fixed),
        Node::Parallel { branches, .. } => branches.iter().any(input_is_fixed),
    }
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
