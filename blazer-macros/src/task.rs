//! `#[blazer::task]`: keeps the function as written and adds a marker type of the same name
//! (type namespace only) that implements `blazer::Task`, plus its registry entry.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

/// A checked task signature.
struct TaskSig {
    args: Vec<Type>,
    /// The success type, and whether the function returns a `Result`.
    output: Type,
    fallible: bool,
}

/// Options of the attribute: `#[blazer::task]` or `#[blazer::task(gpu)]`.
#[derive(Default)]
struct Options {
    /// Hold a GPU of the rank's node while the task runs.
    gpu: bool,
}

fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("gpu") {
            options.gpu = true;
            Ok(())
        } else {
            Err(meta.error("unknown task option; the only option is `gpu`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(options)
}

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = parse_options(attr);
    let func = syn::parse2::<ItemFn>(item);
    // Report option and signature errors together.
    let (options, func) = match (options, func) {
        (Ok(o), Ok(f)) => (o, f),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let sig = check(&func)?;
    Ok(codegen(&func, &sig, &options))
}

/// Collects every reason the function cannot be a task, each spanned on its cause.
fn check(func: &ItemFn) -> syn::Result<TaskSig> {
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

/// Removes the spaces that token printing puts around `<`, `>`, `::` and `,`, so that a
/// signature reads as written (`Vec<Value>`, not `Vec < Value >`).
fn tidy(s: &str) -> String {
    s.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",")
}

/// `()`, `A` or `(A, B, ...)`: how a list of argument types travels as one value.
fn as_value(types: &[Type]) -> TokenStream {
    match types {
        [] => quote!(()),
        [one] => one.to_token_stream(),
        many => quote!((#(#many),*)),
    }
}

fn codegen(func: &ItemFn, sig: &TaskSig, options: &Options) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let span = name.span();
    let n = sig.args.len();
    let input = as_value(&sig.args);
    let output = &sig.output;
    let (head, last) = match n {
        0 => (quote!(()), quote!(())),
        _ => (
            as_value(&sig.args[..n - 1]),
            sig.args[n - 1].to_token_stream(),
        ),
    };
    let vars: Vec<_> = (0..n).map(|i| format_ident!("arg{}", i)).collect();
    let unpack = match n {
        0 => quote!(let () = input;),
        1 => quote!(let arg0 = input;),
        _ => quote!(let (#(#vars),*) = input;),
    };
    let call = if sig.fallible {
        quote!(#name(#(#vars),*).map_err(|e| ::std::string::ToString::to_string(&e)))
    } else {
        quote!(::std::result::Result::Ok(#name(#(#vars),*)))
    };
    let arg_strs: Vec<String> = sig
        .args
        .iter()
        .map(|t| t.to_token_stream().to_string())
        .collect();
    let ret_str = match &func.sig.output {
        ReturnType::Default => "()".to_string(),
        ReturnType::Type(_, t) => t.to_token_stream().to_string(),
    };
    let signature = tidy(&format!("fn({}) -> {}", arg_strs.join(", "), ret_str));
    let name_str = name.to_string();
    // A GPU task holds a lease on one of its node's GPUs for the whole call.
    let (gpu_check, gpu_lease) = if options.gpu {
        (
            quote_spanned!(span=> ::blazer::__private::require_gpu_feature!();),
            quote_spanned!(span=> let _gpu = ::blazer::__private::gpu_lease_for_task(<Self as ::blazer::Task>::NAME)?;),
        )
    } else {
        (quote!(), quote!())
    };
    let doc =
        format!("The blazer task [`{name}()`](fn@{name}): use it as `blazer::task::<{name}>()`.");
    quote_spanned! {span=>
        #func

        #gpu_check

        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        impl ::blazer::Task for #name {
            type Input = #input;
            type Output = #output;
            type Head = #head;
            type Last = #last;
            const ARITY: usize = #n;
            const NAME: &'static str = ::std::concat!(::std::module_path!(), "::", #name_str);
            const SIGNATURE: &'static str = #signature;
            fn run(input: Self::Input) -> ::std::result::Result<Self::Output, ::std::string::String> {
                #gpu_lease
                #unpack
                #call
            }
        }

        ::blazer::__private::inventory::submit! {
            ::blazer::__private::TaskEntry::of::<#name>(::std::concat!(::std::file!(), ":", ::std::line!()))
        }
    }
}
