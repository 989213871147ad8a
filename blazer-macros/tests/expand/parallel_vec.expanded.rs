fn expansion() {
    let _ = ::blazer::parallel(
        ::std::vec![
            { ::blazer::__private::assert_arity!(sqr, 1, "sqr", "it gets 1 here");
            ::blazer::call:: < sqr > (::std::convert::Into::into(1)) }, {
            ::blazer::__private::assert_arity!(sqr, 1, "sqr", "it gets 1 here");
            ::blazer::call:: < sqr > (::std::convert::Into::into(2)) }, {
            ::blazer::__private::assert_arity!(sqr, 1, "sqr", "it gets 1 here");
            ::blazer::call:: < sqr > (::std::convert::Into::into(3)) }
        ],
    );
}
