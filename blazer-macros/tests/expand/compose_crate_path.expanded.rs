fn expansion() {
    let _ = ::my::blazer::map(::my::blazer::task::<sqr>(), vec![1, 2])
        .and_then(|value| ::my::blazer::reduce(::my::blazer::task::<add>(), value))
        .and_then(|value| {
            {
                ::my::blazer::__private::assert_arity!(
                    add, 2, "add",
                    "it gets 2 here (bound arguments plus the stage input)"
                );
                ::my::blazer::partial::<add>(::std::convert::Into::into(10))
            }
                .run(value)
        });
}
