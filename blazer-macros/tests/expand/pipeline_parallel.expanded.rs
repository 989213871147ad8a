fn expansion() {
    let _ = ::blazer::pipeline(
        ::blazer::__private::then_checked(
            ::blazer::__private::call_given::<
                sqr,
                { ::blazer::__private::arity!(call, sqr, 1, "sqr", "1") },
            >(::std::convert::Into::into(3)),
            ::blazer::__private::fork3(
                ::blazer::task::<sqr>(),
                ::blazer::task::<describe>(),
                ::blazer::__private::then_checked(
                    ::blazer::__private::partial_given::<
                        add,
                        { ::blazer::__private::arity!(partial, add, 2, "add", "1") },
                    >(::std::convert::Into::into(1)),
                    ::blazer::task::<describe>(),
                ),
            ),
        ),
    );
}
