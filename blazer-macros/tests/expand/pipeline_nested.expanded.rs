fn expansion() {
    let _ = ::blazer::pipeline(
        ::blazer::__private::then_checked(
            ::blazer::__private::then_checked(
                ::blazer::__private::then_checked(
                    ::blazer::__private::call_given::<
                        calc_stuff,
                        {
                            ::blazer::__private::arity!(
                                call, calc_stuff, 1, "calc_stuff", "1"
                            )
                        },
                    >(::std::convert::Into::into("DATA")),
                    ::blazer::task::<calc_some>(),
                ),
                ::blazer::task::<add_date>(),
            ),
            ::blazer::task::<calc_stuff>(),
        ),
    );
}
