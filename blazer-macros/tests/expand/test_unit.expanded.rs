#[::core::prelude::v1::test]
fn gives_up() {
    ::blazer::__test::run(
        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(gives_up)),
        2u32,
        ::core::time::Duration::from_millis(120000u64),
        || -> () { panic!("no") },
    )
}
