pub fn calc_stuff(value: Value) -> Value {
    Value::single("this", value)
}
///The blazer task [`calc_stuff()`](fn@calc_stuff): use it as `blazer::task::<calc_stuff>()`.
#[allow(non_camel_case_types)]
#[derive(::std::fmt::Debug)]
pub struct calc_stuff {}
impl ::blazer::Task for calc_stuff {
    type Input = Value;
    type Output = Value;
    type Head = ();
    type Last = Value;
    const ARITY: usize = 1usize;
    const NAME: &'static str = ::std::concat!(::std::module_path!(), "::", "calc_stuff");
    const SIGNATURE: &'static str = "fn(Value) -> Value";
    fn run(
        input: Self::Input,
    ) -> ::std::result::Result<Self::Output, ::std::string::String> {
        ::blazer::__private::inventory::submit! {
            ::blazer::__private::TaskEntry::of:: < calc_stuff >
            (::std::concat!(::std::file!(), ":", ::std::line!()))
        }
        let arg0 = input;
        ::std::result::Result::Ok(calc_stuff(arg0))
    }
}
