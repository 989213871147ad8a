//! Checks that a function can be a task, and reads its signature as the runtime sees it.
//! Knows nothing of the generated code.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, GenericParam, ItemFn, Pat, PathArguments, ReturnType, Type,
    TypeReference,
};

/// A checked task signature.
pub(crate) struct TaskSig {
    /// The argument types, in order.
    pub(crate) args: Vec<Type>,
    /// The success type, and whether the function returns a `Result`.
    pub(crate) output: Type,
    /// True when the function returns a `Result`.
    pub(crate) fallible: bool,
}

/// Collects every reason the function cannot be a task, each spanned on its cause and
/// saying what to write instead.
pub(crate) fn check(func: &ItemFn) -> syn::Result<TaskSig> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let s = &func.sig;
    if let Some(u) = &s.unsafety {
        errors.push(syn::Error::new(
            u.span(),
            "a blazer task cannot be `unsafe`: workers call it with whatever arguments arrive; \
             remove `unsafe`, check the arguments, and put the unsafe code in an `unsafe { ... }` \
             block inside",
        ));
    }
    if let Some(abi) = &s.abi {
        errors.push(syn::Error::new(
            abi.span(),
            "a blazer task cannot have a foreign ABI: remove the `extern`; if C code calls it too, \
             write a separate `extern` function that calls the task",
        ));
    }
    if let Some(a) = &s.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "a blazer task cannot be `async`: remove `async`, and block on futures inside the \
             task if it needs them",
        ));
    }
    check_generics(func, &mut errors);
    if let Some(v) = &s.variadic {
        errors.push(syn::Error::new(
            v.span(),
            "a blazer task cannot be variadic",
        ));
    }
    let mut args = Vec::new();
    let mut method = false;
    for input in &s.inputs {
        match input {
            FnArg::Receiver(r) => {
                method = true;
                errors.push(syn::Error::new(
                    r.span(),
                    "a blazer task must be a free function, not a method: move it out of the \
                     `impl` block and take the value as an argument",
                ))
            }
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
    // A method is reported once, above; otherwise `Self` shows an associated function.
    if !method {
        if let Some(span) = find_self(func) {
            errors.push(syn::Error::new(
                span,
                format!(
                    "a blazer task must be a free function, but `{}` uses `Self`, so it is in an \
                     `impl` block: move it out of the `impl` (a method there may call it)",
                    s.ident
                ),
            ));
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

/// Type and const parameters cannot be given by a worker; lifetimes have nothing to borrow.
fn check_generics(func: &ItemFn, errors: &mut Vec<syn::Error>) {
    let g = &func.sig.generics;
    if g.params.is_empty() && g.where_clause.is_none() {
        return;
    }
    let only_lifetimes = g
        .params
        .iter()
        .all(|p| matches!(p, GenericParam::Lifetime(_)));
    let message = if only_lifetimes && g.where_clause.is_none() {
        "a blazer task takes owned values, so it needs no lifetime parameters: remove them"
    } else {
        "a blazer task cannot be generic: every rank must find it under one ID with concrete \
         types; write one task per type you need (each may call a generic helper)"
    };
    errors.push(syn::Error::new(g.span(), message));
}

/// Arguments and results cross the network, so they must be owned and concrete: reports every
/// reference and `impl Trait` anywhere inside `ty` (`Vec<&str>`, `(&str, u8)`, `Option<&T>`).
fn check_owned(ty: &Type, errors: &mut Vec<syn::Error>) {
    match ty {
        Type::Reference(r) => errors.push(syn::Error::new(
            r.span(),
            format!(
                "task arguments and results travel between ranks, so they must be owned: write \
                 `{}` instead of `{}`",
                owned_form(r),
                readable(&r.to_token_stream().to_string())
            ),
        )),
        Type::ImplTrait(t) => errors.push(syn::Error::new(
            t.span(),
            "a blazer task needs concrete types: name the type instead of `impl Trait`",
        )),
        Type::Array(a) => check_owned(&a.elem, errors),
        Type::Group(g) => check_owned(&g.elem, errors),
        Type::Paren(p) => check_owned(&p.elem, errors),
        Type::Slice(s) => check_owned(&s.elem, errors),
        Type::Tuple(t) => t.elems.iter().for_each(|t| check_owned(t, errors)),
        Type::Path(p) => {
            if let Some(q) = &p.qself {
                check_owned(&q.ty, errors);
            }
            for segment in &p.path.segments {
                match &segment.arguments {
                    PathArguments::AngleBracketed(args) => {
                        for arg in &args.args {
                            match arg {
                                GenericArgument::Type(t) => check_owned(t, errors),
                                GenericArgument::AssocType(a) => check_owned(&a.ty, errors),
                                _ => {}
                            }
                        }
                    }
                    PathArguments::Parenthesized(args) => {
                        args.inputs.iter().for_each(|t| check_owned(t, errors));
                        if let ReturnType::Type(_, t) = &args.output {
                            check_owned(t, errors);
                        }
                    }
                    PathArguments::None => {}
                }
            }
        }
        // Function pointers, trait objects, raw pointers and macros are left to serde's bounds.
        _ => {}
    }
}

/// The owned type to write for a reference: `String` for `&str`, `Vec<T>` for `&[T]`, else
/// the referenced type itself.
fn owned_form(r: &TypeReference) -> String {
    match &*r.elem {
        Type::Path(p) if p.path.is_ident("str") => "String".to_string(),
        Type::Path(p) if p.path.is_ident("Path") => "PathBuf".to_string(),
        Type::Slice(s) => format!("Vec<{}>", readable(&s.elem.to_token_stream().to_string())),
        other => readable(&other.to_token_stream().to_string()),
    }
}

/// Token printing puts spaces around `<`, `>`, `&` and `::`: removes them where a person
/// would not write them (in messages, and in the signature a task's ID is made from).
pub(crate) fn readable(s: &str) -> String {
    s.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",")
        .replace("& ", "&")
}

/// Where the function uses `Self` (outside items nested in its body, which have their own):
/// only an associated function can.
fn find_self(func: &ItemFn) -> Option<Span> {
    struct FindSelf(Option<Span>);
    impl<'ast> Visit<'ast> for FindSelf {
        fn visit_ident(&mut self, i: &'ast proc_macro2::Ident) {
            if i == "Self" && self.0.is_none() {
                self.0 = Some(i.span());
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            self.visit_path(&m.path);
            if self.0.is_none() {
                self.0 = self_in_tokens(m.tokens.clone());
            }
        }
    }
    let mut finder = FindSelf(None);
    finder.visit_signature(&func.sig);
    finder.visit_block(&func.block);
    finder.0
}

/// `Self` among the tokens of a macro call (`vec![Self::new()]`).
fn self_in_tokens(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(i) if i == "Self" => Some(i.span()),
        TokenTree::Group(g) => self_in_tokens(g.stream()),
        _ => None,
    })
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
