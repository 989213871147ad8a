//! The ported examples print the right values on 1, 2 and 4 ranks, and alone.

mod common;
use common::{alone, example, mpirun, sizes_within_limit, streaming_totals, Run};

fn check_example3(run: Run) {
    assert_eq!(run.ok_lines(), ["[1, 4, 9, 16]", "30"]);
}

#[test]
fn example3_alone() {
    check_example3(alone(&example("example3"), &[]));
}

#[test]
fn example3_on_1_2_4_ranks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        check_example3(mpirun(n, &example("example3"), &[]));
    }
}

fn somes(range: std::ops::Range<i64>) -> String {
    let items: Vec<String> = range.map(|i| format!("{{'some': {i}}}")).collect();
    format!("[{}]", items.join(", "))
}

fn check_example1(n: i64, run: Run) {
    let lines = run.ok_lines();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[0],
        "PARALLEL1: [{'this': 1}, {'this': 2}, {'this': 3}, {'this': 4}, {'this': 5}]"
    );
    // `where` keeps `this > 1`; the results are in input order.
    assert_eq!(
        lines[1],
        "PARALLEL2: [{'this': 4}, {'this': 6}, {'this': 8}, {'this': 10}]"
    );
    let pipeline = lines[2]
        .strip_prefix("PIPELINE: {'this': {'some': {'this': 'DATA'}, 'date': '")
        .expect(lines[2]);
    assert!(
        pipeline.len() == "2026-01-01 00:00:00'}}".len() && pipeline.ends_with("'}}"),
        "{pipeline}"
    );
    let data = somes(0..2 * n + 2);
    assert_eq!(
        lines[3],
        format!("SCATTER_DATA: {data}"),
        "no padding, input order"
    );
    let inner = format!("{{'some': {{'this': {data}}}}}");
    assert_eq!(
        lines[4],
        format!(
            "PIPELINE RESULT: [{{'some': {data}}}, {{'this': [{inner}, {inner}]}}, {{'some': {data}}}, {{'more': 'stuff'}}]"
        )
    );
    assert_eq!(lines[5], format!("SCATTER: {}", somes(0..2 * n)));
}

#[test]
fn example1_alone() {
    check_example1(1, alone(&example("example1"), &[]));
}

#[test]
fn example1_on_1_2_4_ranks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        check_example1(n as i64, mpirun(n, &example("example1"), &[]));
    }
}

/// The `blazer!` forms print exactly what the equivalent plain calls print.
#[test]
fn example1_macro_matches_plain_calls_on_1_2_4_ranks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        check_example1(n as i64, mpirun(n, &example("example1_macro"), &[]));
    }
}

#[test]
fn streaming_example_counts_every_record_on_1_2_4_ranks() {
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &example("streaming"), &[]);
        let lines = run.ok_lines();
        // 1000 records in chunks of 100: ten grouped results, then the totals.
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("RESULT [{'rank': "))
                .count(),
            10,
            "{lines:?}"
        );
        let counts = streaming_totals(&lines);
        assert_eq!(counts.iter().sum::<i64>(), 1000, "{lines:?}");
        assert!(
            counts.iter().all(|c| *c > 400),
            "both keys occur: {lines:?}"
        );
    }
}

/// The distributed heat stencil: the same field, bit for bit, as a serial run, on every
/// world size.
#[test]
fn heat_on_1_2_4_ranks_matches_the_serial_field() {
    let mut totals = Vec::new();
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &example("heat"), &["20000", "40"]);
        let lines = run.ok_lines();
        assert_eq!(
            lines.last(),
            Some(&"bit-identical to the serial run: true"),
            "on {n} ranks: {run:#?}"
        );
        assert_eq!(lines[0], format!("cells 20000, steps 40, partitions {n}"));
        totals.push(lines[1].to_string());
    }
    totals.dedup();
    assert_eq!(totals.len(), 1, "{totals:?}");
}

/// The distributed word count: the serial counts on every world size.
#[test]
fn wordcount_on_1_2_4_ranks_matches_the_serial_count() {
    let mut outputs = Vec::new();
    for n in sizes_within_limit(&[1, 2, 4]) {
        let run = mpirun(n, &example("wordcount"), &["5000"]);
        let lines = run.ok_lines();
        assert_eq!(
            lines.last(),
            Some(&"same as the serial count: true"),
            "on {n} ranks: {run:#?}"
        );
        assert_eq!(lines.len(), 13, "twelve words, then the check: {lines:#?}");
        outputs.push(run.stdout.clone());
    }
    outputs.dedup();
    assert_eq!(outputs.len(), 1, "{outputs:#?}");
}
