//! Structural checks that need no types; every violation is reported, each on its own span.
//! Type and arity checks are left to the compiler on the generated code, spanned on the
//! offending stage.

use super::ast::{DataItem, DataRole, Node};

/// Where a node stands: does it receive an input, and must it be a `Flow` (data)?
#[derive(Clone, Copy)]
struct Place {
    has_input: bool,
    /// Inside a `parallel[...]` branch or the task of a data primitive: shipped to workers as
    /// a plan, so driver-side primitives cannot appear.
    in_flow: bool,
}

pub(super) fn check(node: &Node) -> syn::Result<()> {
    let mut errors = Vec::new();
    visit(
        node,
        Place {
            has_input: false,
            in_flow: false,
        },
        &mut errors,
    );
    crate::errors::all(errors)
}

fn visit(node: &Node, place: Place, errors: &mut Vec<syn::Error>) {
    match node {
        Node::Task { .. } | Node::Const { .. } => {}
        Node::Pipeline { stages, .. } => {
            for (i, stage) in stages.iter().enumerate() {
                let has_input = place.has_input || i > 0;
                visit(
                    stage,
                    Place {
                        has_input,
                        in_flow: place.in_flow,
                    },
                    errors,
                );
            }
        }
        Node::Parallel {
            branches, as_vec, ..
        } => {
            if branches.len() > 8 && !*as_vec && !super::ast::homogeneous(branches) {
                errors.push(syn::Error::new(
                    node.span(),
                    "a `parallel[...]` of different tasks has at most 8 branches (it yields a tuple); \
                     write `parallel[...] as Vec` for a `Vec`, which has no limit",
                ));
            }
            for branch in branches {
                visit(
                    branch,
                    Place {
                        has_input: place.has_input,
                        in_flow: true,
                    },
                    errors,
                );
            }
        }
        Node::Data {
            kind,
            stage,
            data,
            span,
        } => {
            let name = kind.name();
            if place.in_flow {
                errors.push(syn::Error::new(
                    *span,
                    format!(
                        "`{name}` runs on the driver: it cannot be a branch of `parallel[...]` or the task of \
                         another `map`, `reduce` or `scatter`; make it a stage of the outer pipeline"
                    ),
                ));
            } else if place.has_input && data.is_some() {
                errors.push(syn::Error::new(
                    *span,
                    format!("here `{name}` takes its data from the stage before; remove the data argument"),
                ));
            } else if !place.has_input && data.is_none() {
                let form = match kind {
                    super::ast::DataKind::Scatter => "scatter(data, task)",
                    _ if name == "map" => "map(task, data)",
                    _ => "reduce(task, data)",
                };
                errors.push(syn::Error::new(
                    *span,
                    format!("`{name}` needs its data here: `{form}`"),
                ));
            }
            // The stage of a data primitive runs on each item: it has an input and is shipped.
            visit(
                stage,
                Place {
                    has_input: true,
                    in_flow: true,
                },
                errors,
            );
        }
        Node::Dataset { items, span } => check_dataset(items, *span, place, errors),
    }
}

/// A `dataset[...]`: known items with their numbers of arguments, a source exactly where
/// there is no stage input, steps in the middle, at most one action and only last.
fn check_dataset(
    items: &[DataItem],
    span: proc_macro2::Span,
    place: Place,
    errors: &mut Vec<syn::Error>,
) {
    if place.in_flow {
        errors.push(syn::Error::new(
            span,
            "`dataset[...]` runs on the driver: it cannot be a branch of `parallel[...]` or the \
             task of a `map`, `reduce` or `scatter`; make it a stage of the outer pipeline",
        ));
        return;
    }
    for (i, item) in items.iter().enumerate() {
        let Some((role, arity)) = item.role() else {
            errors.push(syn::Error::new(
                item.name.span(),
                format!(
                    "unknown dataset item `{}`: expected a source (range, generate, scatter), a \
                     step (map, filter, flat_map, map_partitions, map_overlap, group_by_key, \
                     reduce_by_key, rebalance) or an action (reduce, fold, count, collect, take)",
                    item.name
                ),
            ));
            continue;
        };
        let name = &item.name;
        if item.args.len() != arity {
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "`{name}` takes {arity} argument(s) in a dataset, here {}",
                    item.args.len()
                ),
            ));
        }
        match role {
            DataRole::Source if place.has_input => errors.push(syn::Error::new(
                name.span(),
                format!(
                    "here the dataset is the stage before's output (scattered); remove `{name}(...)`"
                ),
            )),
            DataRole::Source if i > 0 => errors.push(syn::Error::new(
                name.span(),
                format!("`{name}` makes a dataset: it can only come first"),
            )),
            DataRole::Step | DataRole::Action if i == 0 && !place.has_input => {
                errors.push(syn::Error::new(
                    name.span(),
                    "a dataset with no stage before it starts with a source: `range(n)`, \
                     `generate(task, n)` or `scatter(data)`",
                ))
            }
            DataRole::Action if i + 1 < items.len() => errors.push(syn::Error::new(
                name.span(),
                format!("`{name}` ends a dataset with a value: it can only come last"),
            )),
            _ => {}
        }
    }
}
