//! Checks that a function can be a task, and reads its signature as the runtime sees it.
//! Knows nothing of the generated code.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

/// A checked task signature.
pub(crate) struct TaskSig {
    /// The argument types, in order.
    pub(crate) args: Vec<Type>,
    /// The success type, and whether the function returns a `Result`.
    pub(crate) output: Type,
    /// True when the function returns a `Result`.
    pub(crate) fallible: bool,
}

/// Collects every reason the function cannot be a task, each spanned on its cause.
pub(crate) fn check(func: &ItemFn) -> syn::Result<TaskSig> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let s = &func.sig;
    if let Some(a) = &s.asyncness {
        errors.push(syn::Error::new(a.span(), "a blazer task cannot be `async`"));
    }
    if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            s.generics.span(),
            "a blazer task cannot be generic: every rank must find it under one ID with concrete types",
        ));
    }
    if let Some(v) = &s.variadic {
        errors.push(syn::Error::new(
            v.span(),
            "a blazer task cannot be variadic",
        ));
    }
    let mut args = Vec::new();
    for input in &s.inputs {
        match input {
            FnArg::Receiver(r) => errors.push(syn::Error::new(
                r.span(),
                "a blazer task must be a free function, not a method",
            )),
            FnArg::Typed(pt) => {
                if !matches!(&*pt.pat, Pat::Ident(_)) {
                    errors.push(syn::Error::new(
                        pt.pat.span(),
                        "task arguments must be plain names; destructure inside the body",
                    ));
                }
                check_owned(&pt.ty, &mut errors);
                args.push((*pt.ty).clone());
            }
        }
    }
    let (output, fallible) = match &s.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => {
            check_owned(ty, &mut errors);
            match result_ok_type(ty) {
                Some(ok) => (ok, true),
                None => ((**ty).clone(), false),
            }
        }
    };
    crate::errors::all(errors)?;
    Ok(TaskSig {
        args,
        output,
        fallible,
    })
}

/// Arguments and results cross the network, so they must be owned and concrete.
fn check_owned(ty: &Type, errors: &mut Vec<syn::Error>) {
    match ty {
        Type::Reference(r) => errors.push(syn::Error::new(
            r.span(),
            "task arguments and results travel between ranks and must be owned: use `String` for `&str`, `Vec<T>` for `&[T]`",
        )),
        Type::ImplTrait(t) => errors.push(syn::Error::new(t.span(), "a blazer task needs concrete types, not `impl Trait`")),
        _ => {}
    }
}

/// `T` of `Result<T, E>` (or of an alias such as `io::Result<T>`).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}
