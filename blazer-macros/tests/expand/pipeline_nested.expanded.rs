fn expansion() {
    let _ = ::blazer::pipeline(
        {
            ::blazer::__private::assert_arity!(
                calc_stuff, 1, "calc_stuff", "it gets 1 here"
            );
            ::blazer::call::<calc_stuff>(::std::convert::Into::into("DATA"))
        }
            .then(::blazer::task::<calc_some>())
            .then(::blazer::task::<add_date>())
            .then(::blazer::task::<calc_stuff>()),
    );
}
