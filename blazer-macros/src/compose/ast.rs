//! The syntax tree of a `blazer!` expression.

use proc_macro2::Span;
use syn::{Expr, Path};

/// One node of the composition.
pub enum Node {
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
pub enum DataKind {
    Map,
    Reduce,
    Scatter,
}

impl DataKind {
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Map => "map",
            DataKind::Reduce => "reduce",
            DataKind::Scatter => "scatter",
        }
    }
}

impl Node {
    pub fn span(&self) -> Span {
        match self {
            Node::Task { span, .. }
            | Node::Pipeline { span, .. }
            | Node::Parallel { span, .. }
            | Node::Const { span, .. }
            | Node::Data { span, .. } => *span,
        }
    }
}
