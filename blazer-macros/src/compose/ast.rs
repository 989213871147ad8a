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
    /// `dataset[source?, step, ..., action?]`: a `blazer::Dataset` built and used on the
    /// driver; inside a pipeline after the first stage, the stage before's output is
    /// scattered into it.
    Dataset { items: Vec<DataItem>, span: Span },
}

/// One item of a `dataset[...]`: `name` or `name(args...)`.
pub(super) struct DataItem {
    pub(super) name: syn::Ident,
    pub(super) args: Vec<Expr>,
}

/// What a `dataset[...]` item is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum DataRole {
    /// Makes the dataset: `range(n)`, `generate(task, n)`, `scatter(data)`.
    Source,
    /// Makes a dataset from the one before.
    Step,
    /// Ends the dataset with a value on the driver.
    Action,
}

impl DataItem {
    /// The item's role and the number of arguments it takes, or `None` for an unknown name.
    pub(super) fn role(&self) -> Option<(DataRole, usize)> {
        Some(match self.name.to_string().as_str() {
            "range" | "scatter" => (DataRole::Source, 1),
            "generate" => (DataRole::Source, 2),
            "map" | "filter" | "flat_map" | "map_partitions" | "reduce_by_key" => {
                (DataRole::Step, 1)
            }
            "map_overlap" => (DataRole::Step, 3),
            "group_by_key" | "rebalance" => (DataRole::Step, 0),
            "reduce" | "take" => (DataRole::Action, 1),
            "count" | "collect" => (DataRole::Action, 0),
            "fold" => (DataRole::Action, 3),
            _ => return None,
        })
    }
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
            | Node::Data { span, .. }
            | Node::Dataset { span, .. } => *span,
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
