fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 { Err("zero".into()) } else { Ok(a / b) }
}
///The blazer task [`checked_div()`](fn@checked_div): use it as `blazer::task::<checked_div>()`.
#[allow(non_camel_case_types)]
#[derive(::std::fmt::Debug)]
struct checked_div {}
impl ::blazer::Task for checked_div {
    type Input = (i64, i64);
    type Output = i64;
    type Head = i64;
    type Last = i64;
    const ARITY: usize = 2usize;
    const NAME: &'static str = ::std::concat!(
        ::std::module_path!(), "::", "checked_div"
    );
    const SIGNATURE: &'static str = "fn(i64, i64) -> Result<i64, String>";
    fn run(
        input: Self::Input,
    ) -> ::std::result::Result<Self::Output, ::std::string::String> {
        ::blazer::__private::inventory::submit! {
            ::blazer::__private::TaskEntry::of:: < checked_div >
            (::std::concat!(::std::file!(), ":", ::std::line!()))
        }
        let (arg0, arg1) = input;
        checked_div(arg0, arg1).map_err(|e| ::std::string::ToString::to_string(&e))
    }
    fn split_input<S: ::blazer::__private::ArgSink>(
        input: Self::Input,
        sink: &mut S,
    ) -> ::std::result::Result<(), ::std::string::String> {
        let (arg0, arg1) = input;
        sink.arg(arg0)?;
        sink.arg(arg1)?;
        ::std::result::Result::Ok(())
    }
    fn join_input<S: ::blazer::__private::ArgSource>(
        source: &mut S,
    ) -> ::std::result::Result<Self::Input, ::std::string::String> {
        if source.pieces() == 2usize {
            ::std::result::Result::Ok((source.arg()?, source.arg()?))
        } else {
            source.whole()
        }
    }
}
