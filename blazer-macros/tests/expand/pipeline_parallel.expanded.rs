fn expansion() {
    let _ = ::blazer::pipeline(
        {
            ::blazer::__private::assert_arity!(sqr, 1, "sqr", "it gets 1 here");
            ::blazer::call::<sqr>(::std::convert::Into::into(3))
        }
            .then(
                ::blazer::fork((
                    ::blazer::task::<sqr>(),
                    ::blazer::task::<describe>(),
                    {
                        ::blazer::__private::assert_arity!(
                            add, 2, "add",
                            "it gets 2 here (bound arguments plus the stage input)"
                        );
                        ::blazer::partial::<add>(::std::convert::Into::into(1))
                    }
                        .then(::blazer::task::<describe>()),
                )),
            ),
    );
}
