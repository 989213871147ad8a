fn expansion() {
    let _ = ::blazer::scatter(
        0..10,
        ::blazer::__private::partial_given::<
            add,
            { ::blazer::__private::arity!(partial, add, 2, "add", "1") },
        >(::std::convert::Into::into(100)),
    );
}
