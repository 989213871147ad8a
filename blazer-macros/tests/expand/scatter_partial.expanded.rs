fn expansion() {
    let _ = ::blazer::scatter(
        0..10,
        {
            ::blazer::__private::assert_arity!(
                add, 2, "add", "it gets 2 here (bound arguments plus the stage input)"
            );
            ::blazer::partial::<add>(::std::convert::Into::into(100))
        },
    );
}
