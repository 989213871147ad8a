//! The code `#[blazer::task]` emits: the function as written, a marker type of the same
//! name implementing `blazer::Task`, and its registry entry.

use super::options::Options;
use super::signature::{readable, TaskSig};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::{Attribute, ItemFn, Meta, MetaList, ReturnType, Token, Type};

/// `()`, `A` or `(A, B, ...)`: how a list of argument types travels as one value.
fn as_value(types: &[Type]) -> TokenStream {
    match types {
        [] => quote!(()),
        [one] => one.to_token_stream(),
        many => quote!((#(#many),*)),
    }
}

/// The expansion of a checked task.
pub(crate) fn codegen(func: &ItemFn, sig: &TaskSig, options: &Options) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let span = name.span();
    let krate = crate::options::respanned(&options.krate, span);
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
    // Introduced names resolve at the macro (`mixed_site`), so a task named `input` or
    // `arg0` still means the user's function in the call below.
    let hygienic = Span::mixed_site().located_at(span);
    let input_var = Ident::new("input", hygienic);
    let err_var = Ident::new("e", hygienic);
    let vars: Vec<_> = (0..n)
        .map(|i| format_ident!("arg{}", i, span = hygienic))
        .collect();
    let unpack = match n {
        0 => quote!(let () = #input_var;),
        1 => quote!(let #(#vars)* = #input_var;),
        _ => quote!(let (#(#vars),*) = #input_var;),
    };
    let pieces = arg_pieces(&krate, &vars, &input_var, hygienic);
    let call = if sig.fallible {
        quote!(#name(#(#vars),*).map_err(|#err_var| ::std::string::ToString::to_string(&#err_var)))
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
    let signature = readable(&format!("fn({}) -> {}", arg_strs.join(", "), ret_str));
    let name_str = name.to_string();
    // A GPU task holds a lease on one of its node's GPUs for the whole call.
    let (gpu_check, gpu_lease) = if options.gpu {
        let lease = Ident::new("_gpu", hygienic);
        (
            quote_spanned!(span=> #krate::__private::require_gpu_feature!();),
            quote_spanned!(span=> let #lease = #krate::__private::gpu_lease_for_task(<Self as #krate::Task>::NAME)?;),
        )
    } else {
        (quote!(), quote!())
    };
    let root = options
        .krate
        .to_token_stream()
        .to_string()
        .replace(' ', "")
        .trim_start_matches("::")
        .to_string();
    let doc =
        format!("The blazer task [`{name}()`](fn@{name}): use it as `{root}::task::<{name}>()`.");
    let cfgs = cfg_attrs(&func.attrs);
    // Two items besides the function, the struct and its impl, with the registration inside
    // the impl: in an `impl` block, where a task cannot be, rustc rejects both and nothing
    // that names the missing struct is left to add errors of its own.
    quote_spanned! {span=>
        #func

        #(#cfgs)*
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #[derive(::std::fmt::Debug)]
        #vis struct #name {}

        #(#cfgs)*
        impl #krate::Task for #name {
            type Input = #input;
            type Output = #output;
            type Head = #head;
            type Last = #last;
            const ARITY: usize = #n;
            const NAME: &'static str = ::std::concat!(::std::module_path!(), "::", #name_str);
            const SIGNATURE: &'static str = #signature;
            fn run(#input_var: Self::Input) -> ::std::result::Result<Self::Output, ::std::string::String> {
                // An item, registered at start-up whether `run` is ever called or not.
                #krate::__private::inventory::submit! {
                    #krate::__private::TaskEntry::of::<#name>(::std::concat!(::std::file!(), ":", ::std::line!()))
                }
                #gpu_check
                #gpu_lease
                #unpack
                #call
            }
            #pieces
        }
    }
}

/// For two arguments or more: the `Task` methods that hand them over one by one, so that
/// each travels in its own form (a `Vec<f64>` as its memory even beside a count), and take
/// them back the same way (or as one tuple, when they did not travel as pieces).
fn arg_pieces(krate: &TokenStream, vars: &[Ident], input: &Ident, hygienic: Span) -> TokenStream {
    let n = vars.len();
    if n < 2 {
        return quote!();
    }
    let sink = Ident::new("sink", hygienic);
    let source = Ident::new("source", hygienic);
    let head = Ident::new("head", hygienic);
    let s = Ident::new("S", hygienic);
    let head_vars = &vars[..n - 1];
    let split_head = (n >= 3).then(|| {
        quote! {
            fn split_head<#s: #krate::__private::ArgSink>(#head: Self::Head, #sink: &mut #s) -> ::std::result::Result<(), ::std::string::String> {
                let (#(#head_vars),*) = #head;
                #(#sink.arg(#head_vars)?;)*
                ::std::result::Result::Ok(())
            }
        }
    });
    let takes = vars.iter().map(|_| quote!(#source.arg()?));
    quote! {
        fn split_input<#s: #krate::__private::ArgSink>(#input: Self::Input, #sink: &mut #s) -> ::std::result::Result<(), ::std::string::String> {
            let (#(#vars),*) = #input;
            #(#sink.arg(#vars)?;)*
            ::std::result::Result::Ok(())
        }
        #split_head
        fn join_input<#s: #krate::__private::ArgSource>(#source: &mut #s) -> ::std::result::Result<Self::Input, ::std::string::String> {
            if #source.pieces() == #n {
                ::std::result::Result::Ok((#(#takes),*))
            } else {
                #source.whole()
            }
        }
    }
}

/// The function's `cfg` conditions, to put on what the macro adds: a task configured out
/// must take its marker and registration with it. rustc evaluates `cfg` before calling the
/// macro, so they only reach it from tools and macros that pass items on unconfigured; a
/// `cfg_attr` keeps only the `cfg`s it would add (its other attributes are the function's).
fn cfg_attrs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter_map(|attr| {
            if attr.path().is_ident("cfg") {
                return Some(attr.clone());
            }
            if !attr.path().is_ident("cfg_attr") {
                return None;
            }
            let Meta::List(list) = &attr.meta else {
                return None;
            };
            let cfgs = cfg_only(list.tokens.clone())?;
            let mut kept = attr.clone();
            kept.meta = Meta::List(MetaList {
                tokens: cfgs,
                ..list.clone()
            });
            Some(kept)
        })
        .collect()
}

/// `pred, a, cfg(x), cfg_attr(q, b, cfg(y))` → `pred, cfg(x), cfg_attr(q, cfg(y))`, or
/// `None` when no `cfg` is left.
fn cfg_only(tokens: TokenStream) -> Option<TokenStream> {
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let items = syn::parse::Parser::parse2(parser, tokens).ok()?;
    let mut items = items.into_iter();
    let predicate = items.next()?;
    let kept: Vec<Meta> = items
        .filter_map(|meta| match &meta {
            Meta::List(l) if l.path.is_ident("cfg") => Some(meta),
            Meta::List(l) if l.path.is_ident("cfg_attr") => {
                let inner = cfg_only(l.tokens.clone())?;
                Some(Meta::List(MetaList {
                    tokens: inner,
                    ..l.clone()
                }))
            }
            _ => None,
        })
        .collect();
    (!kept.is_empty()).then(|| quote!(#predicate, #(#kept),*))
}
