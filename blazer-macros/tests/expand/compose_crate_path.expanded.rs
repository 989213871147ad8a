fn expansion() {
    let _ = ::my::blazer::map(::my::blazer::task::<sqr>(), vec![1, 2])
        .and_then(|value| ::my::blazer::reduce(::my::blazer::task::<add>(), value))
        .and_then(|value| ::my::blazer::__private::run_checked(
            &::my::blazer::__private::partial_given::<
                add,
                { ::my::blazer::__private::arity!(partial, add, 2, "add", "1") },
            >(::std::convert::Into::into(10)),
            value,
        ));
}
