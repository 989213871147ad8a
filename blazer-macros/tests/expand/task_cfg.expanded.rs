#[cfg(feature = "x")]
#[cfg_attr(test, inline, cfg(unix), cfg_attr(windows, cold, cfg(all())))]
#[cfg_attr(test, inline)]
///Doubles.
fn twice(x: i64) -> i64 {
    x * 2
}
#[cfg(feature = "x")]
#[cfg_attr(test, cfg(unix), cfg_attr(windows, cfg(all())))]
///The blazer task [`twice()`](fn@twice): use it as `blazer::task::<twice>()`.
#[allow(non_camel_case_types)]
#[derive(::std::fmt::Debug)]
struct twice {}
#[cfg(feature = "x")]
#[cfg_attr(test, cfg(unix), cfg_attr(windows, cfg(all())))]
impl ::blazer::Task for twice {
    type Input = i64;
    type Output = i64;
    type Head = ();
    type Last = i64;
    const ARITY: usize = 1usize;
    const NAME: &'static str = ::std::concat!(::std::module_path!(), "::", "twice");
    const SIGNATURE: &'static str = "fn(i64) -> i64";
    fn run(
        input: Self::Input,
    ) -> ::std::result::Result<Self::Output, ::std::string::String> {
        ::blazer::__private::inventory::submit! {
            ::blazer::__private::TaskEntry::of:: < twice >
            (::std::concat!(::std::file!(), ":", ::std::line!()))
        }
        let arg0 = input;
        ::std::result::Result::Ok(twice(arg0))
    }
}
