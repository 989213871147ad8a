fn expansion() {
    let _ = ::blazer::parallel(
        ::std::vec![
            ::blazer::__private::call_given:: < sqr, { ::blazer::__private::arity!(call,
            sqr, 1, "sqr", "1") } > (::std::convert::Into::into(1)),
            ::blazer::__private::call_given:: < sqr, { ::blazer::__private::arity!(call,
            sqr, 1, "sqr", "1") } > (::std::convert::Into::into(2)),
            ::blazer::__private::call_given:: < sqr, { ::blazer::__private::arity!(call,
            sqr, 1, "sqr", "1") } > (::std::convert::Into::into(3))
        ],
    );
}
