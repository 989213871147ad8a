#[::core::prelude::v1::test]
#[ignore]
fn squares() {
    ::blazer::__test::run(
        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(squares)),
        4u32,
        ::core::time::Duration::from_millis(90000u64),
        || -> blazer::Result<()> {
            assert_eq!(blazer::size(), 4);
            Ok(())
        },
    )
}
