//! The syntax tree of a `blazer!` expression.

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, Path};

/// A whole `blazer!` input: `[crate = path;] node`.
pub(super) struct Invocation {
    /// The path the generated code reaches blazer by (`::blazer` by default).
    pub(super) krate: Path,
    /// The composition.
    pub(super) root: Node,
}

/// One node of the composition.
pub(super) enum Node {
    /// `task` or `task(args...)`.
    Task {
        path: Path,
        args: Option<Vec<Expr>>,
        span: Span,
    },
    /// `pipeline[a, b, ...]`: stages in sequence.
    Pipeline { stages: Vec<Node>, span: Span },
    /// `parallel[a, b, ...]`: branches side by side, fed the same input. `as_vec` when
    /// written `parallel[...] as Vec`.
    Parallel {
        branches: Vec<Node>,
        as_vec: bool,
        span: Span,
    },
    /// `constant(expr)`: ignores its input and yields the value.
    Const { value: Expr, span: Span },
    /// `map(stage, data)`, `reduce(stage, data)`, `scatter(data, stage)`; inside a pipeline
    /// after the first stage, the data is omitted and comes from the stage before.
    Data {
        kind: DataKind,
        stage: Box<Node>,
        data: Option<Expr>,
        span: Span,
    },
}

/// Which data-parallel primitive a [`Node::Data`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum DataKind {
    Map,
    Reduce,
    Scatter,
}

impl DataKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            DataKind::Map => "map",
            DataKind::Reduce => "reduce",
            DataKind::Scatter => "scatter",
        }
    }
}

impl Node {
    pub(super) fn span(&self) -> Span {
        match self {
            Node::Task { span, .. }
            | Node::Pipeline { span, .. }
            | Node::Parallel { span, .. }
            | Node::Const { span, .. }
            | Node::Data { span, .. } => *span,
        }
    }
}

/// True when every branch calls the same task: the fan-out yields a `Vec`, else a tuple.
pub(crate) fn homogeneous(branches: &[Node]) -> bool {
    let mut names = branches.iter().map(|b| match b {
        Node::Task { path, .. } => Some(path.to_token_stream().to_string()),
        _ => None,
    });
    let first = names.next().flatten();
    first.is_some() && names.all(|n| n == first)
}
