fn scale(v: Vec<f32>) -> Vec<f32> {
    v
}
///The blazer task [`scale()`](fn@scale): use it as `my_blazer::task::<scale>()`.
#[allow(non_camel_case_types)]
#[derive(::std::fmt::Debug)]
struct scale {}
impl my_blazer::Task for scale {
    type Input = Vec<f32>;
    type Output = Vec<f32>;
    type Head = ();
    type Last = Vec<f32>;
    const ARITY: usize = 1usize;
    const NAME: &'static str = ::std::concat!(::std::module_path!(), "::", "scale");
    const SIGNATURE: &'static str = "fn(Vec<f32>) -> Vec<f32>";
    fn run(
        input: Self::Input,
    ) -> ::std::result::Result<Self::Output, ::std::string::String> {
        my_blazer::__private::inventory::submit! {
            my_blazer::__private::TaskEntry::of:: < scale >
            (::std::concat!(::std::file!(), ":", ::std::line!()))
        }
        my_blazer::__private::require_gpu_feature!();
        let _gpu = my_blazer::__private::gpu_lease_for_task(
            <Self as my_blazer::Task>::NAME,
        )?;
        let arg0 = input;
        ::std::result::Result::Ok(scale(arg0))
    }
}
