//! A word count over generated text that never leaves the workers until the counts do: the
//! lines are made on the ranks that hold them, split into words there, and the words move
//! rank to rank to the partition their key hashes to, where they are counted
//! (`reduce_by_key`). Checked against a serial count.
//!
//! `mpirun -n 4 target/release/examples/wordcount [LINES]`

use blazer::Dataset;
use std::collections::BTreeMap;

const WORDS: [&str; 12] = [
    "the",
    "heat",
    "of",
    "a",
    "rank",
    "moves",
    "to",
    "its",
    "neighbour",
    "and",
    "back",
    "again",
];

/// Line `i` of the text: a few words picked by a hash of `i`.
#[blazer::task]
fn line(i: u64) -> String {
    text_line(i)
}

fn text_line(i: u64) -> String {
    let mut h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..(i % 7 + 3))
        .map(|_| {
            h ^= h >> 29;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            WORDS[(h % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each word of a line with a count of one.
#[blazer::task]
fn words(line: String) -> Vec<(String, u64)> {
    line.split_whitespace()
        .map(|w| (w.to_string(), 1))
        .collect()
}

#[blazer::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let counts: BTreeMap<String, u64> = Dataset::generate::<line>(lines)
        .flat_map::<words>()
        .reduce_by_key::<add>()
        .collect()?
        .into_iter()
        .collect();
    let mut serial: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..lines {
        for w in text_line(i).split_whitespace() {
            *serial.entry(w.to_string()).or_default() += 1;
        }
    }
    for (word, n) in &counts {
        println!("{word} {n}");
    }
    println!("same as the serial count: {}", counts == serial);
    Ok(())
}
