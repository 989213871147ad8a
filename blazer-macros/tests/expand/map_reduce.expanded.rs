fn expansion() {
    let _ = ::blazer::map(::blazer::task::<sqr>(), vec![1, 2, 3, 4])
        .and_then(|value| ::blazer::reduce(::blazer::task::<add>(), value));
}
