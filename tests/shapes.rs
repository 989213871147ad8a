//! Flows whose stage input a task of several arguments takes apart piece by piece (`()`
//! branches, nested forks, partial applications, fully bound calls, long vectors beside
//! scalars), through real workers: alone and on 1, 2 and 3 ranks (`BLAZER_MAX_RANKS` may
//! leave out the larger runs), every value exactly as sent.

mod common;
use common::{alone, mpirun, probe, sizes_within_limit};

/// What `blazer-probe shapes` prints, on any number of ranks.
const SHAPES_OUTPUT: [&str; 10] = [
    // A fork of `()` and of a fork of 5 and [2, 7, 7]: once `(3, [7, 7])`.
    "SHAPES NESTED (5, [2, 7, 7])",
    // The same between a `()` and a scalar: once an error.
    "SHAPES NESTED BETWEEN (5, [1, 2, 3], 9)",
    "SHAPES CALLS [(2500.0, 10000), (10000.0, 20000), (22500.0, 30000), (40000.0, 40000)]",
    "SHAPES AROUND (70000, 8916936, 9000, -40495500)",
    "SHAPES CONSTANTS (3, 3, 2, -3)",
    "SHAPES UNIT LAST 70000 65537 [4]",
    "SHAPES EIGHT 1 9000:4500 70000:70000 9000:40495500 -1 100:1",
    "SHAPES EIGHT MAPPED [\"1 9000:4500 70000:70000 9000:40495500 -1 100:1\", \
     \"2 18000:9000 70000:140000 9000:40495500 -2 200:2\", \
     \"3 27000:13500 70000:210000 9000:40495500 -3 300:3\"]",
    "SHAPES EIGHT PARTIAL 2 18000:9000 70000:140000 9000:40495500 -2 200:2",
    "SHAPES EIGHT FORKED 3 9000:4500 70000:8916936 9000:-40495500 -3 300:3",
];

#[test]
fn flow_shapes_deliver_the_arguments_sent_on_1_2_3_ranks() {
    assert_eq!(
        alone(&probe(), &["shapes"]).ok_lines(),
        SHAPES_OUTPUT,
        "alone"
    );
    for n in sizes_within_limit(&[1, 2, 3]) {
        assert_eq!(
            mpirun(n, &probe(), &["shapes"]).ok_lines(),
            SHAPES_OUTPUT,
            "on {n} ranks"
        );
    }
}
