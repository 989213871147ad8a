fn expansion() {
    let _ = ::blazer::map(::blazer::task::<sqr>(), vec![1, 2, 3])
        .and_then(|value| {
            (::blazer::Dataset::scatter(value)
                .map::<sqr>()
                .filter::<even>()
                .map_overlap::<smooth>(1, ::blazer::Border::Open))
                .reduce::<add>()
        });
}
