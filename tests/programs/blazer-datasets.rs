//! A test program for datasets (`blazer::Dataset`) on real ranks: `blazer-datasets MODE`.
//! Each mode computes the same thing with a dataset and serially in the driver, and prints
//! `SAME name` or `DIFF name: ...` per check, or the lines `tests/datasets.rs` asserts on.

use blazer::{Border, Dataset, Halo};
use blazer_suite::heat::{serial_step as heat_serial, step as heat_step};
use std::collections::HashMap;

#[blazer::task]
fn square(x: u64) -> u64 {
    x * x
}

#[blazer::task]
fn is_even(x: u64) -> bool {
    x.is_multiple_of(2)
}

#[blazer::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Not commutative: folds keep the items' order.
#[blazer::task]
fn concat(a: String, b: String) -> String {
    a + &b
}

#[blazer::task]
fn digit(x: u64) -> String {
    (x % 10).to_string()
}

#[blazer::task]
fn repeat(x: u64) -> Vec<u64> {
    vec![x; (x % 3) as usize]
}

#[blazer::task]
fn partition_len(items: Vec<u64>) -> Vec<u64> {
    vec![items.len() as u64]
}

#[blazer::task]
fn push_len(acc: Vec<u64>, x: u64) -> Vec<u64> {
    let mut acc = acc;
    acc.push(x);
    acc
}

#[blazer::task]
fn join_vecs(a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    [a, b].concat()
}

#[blazer::task]
fn times_ten(i: u64) -> u64 {
    i * 10
}

/// Fails on one item, to test what an error names.
#[blazer::task]
fn fragile(x: u64) -> Result<u64, String> {
    if x == 777 {
        Err(format!("item {x} is cursed"))
    } else {
        Ok(x)
    }
}

/// Sums of each item with its `halo` neighbours on either side (a wider stencil).
#[blazer::task]
fn window_sum(halo: Halo<i64>) -> Vec<i64> {
    let all: Vec<i64> = [halo.before.as_slice(), &halo.items, &halo.after].concat();
    let h = halo.before.len();
    (0..halo.items.len())
        .map(|i| all[i..i + 2 * h + 1].iter().sum())
        .collect()
}

#[blazer::task]
fn words_of(line: String) -> Vec<(String, u64)> {
    line.split_whitespace()
        .map(|w| (w.to_string(), 1))
        .collect()
}

#[blazer::task]
fn count_words(a: u64, b: u64) -> u64 {
    a + b
}

#[blazer::task]
fn line_of(i: u64) -> String {
    const WORDS: [&str; 7] = ["alpha", "beta", "gamma", "delta", "mu", "pi", "rho"];
    (0..(i % 5 + 1))
        .map(|k| WORDS[((i * 31 + k * 7) % 7) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

#[blazer::task]
fn held() -> u64 {
    blazer::partitions_held() as u64
}

#[blazer::task]
fn rss() -> u64 {
    rss_kib()
}

fn check<T: PartialEq + std::fmt::Debug>(name: &str, got: T, want: T) {
    if got == want {
        println!("SAME {name}");
    } else {
        println!("DIFF {name}: got {got:?}, want {want:?}");
    }
}

fn main() -> std::process::ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    blazer::run(|| run(&mode))
}

fn run(mode: &str) -> blazer::Result<()> {
    match mode {
        "basics" => basics(),
        "halo" => halo(),
        "shuffle" => shuffle(),
        "rebalance" => rebalance(),
        "failure" => failure(),
        "free" => free(),
        "misuse" => misuse(),
        "recover" => recover(),
        "killed" => killed(),
        "checkpointed" => checkpointed(),
        other => Err(blazer::Error::Usage(format!("unknown mode `{other}`"))),
    }
}

fn basics() -> blazer::Result<()> {
    let n = 10_001u64;
    let serial: Vec<u64> = (0..n).map(|x| x * x).filter(|x| x % 2 == 0).collect();
    let evens = Dataset::range(n).map::<square>().filter::<is_even>();
    check("count", evens.count()?, serial.len() as u64);
    check("reduce", evens.reduce::<add>()?, Some(serial.iter().sum()));
    check("collect", evens.collect()?, serial.clone());
    check("take", evens.take(7)?, serial[..7].to_vec());
    check("take-all", evens.take(1 << 20)?, serial.clone());
    check("take-none", evens.take(0)?, Vec::new());
    // In order: a fold that is not commutative.
    let digits: String = (0..n).map(|x| (x % 10).to_string()).collect();
    check(
        "reduce-in-order",
        Dataset::range(n).map::<digit>().reduce::<concat>()?,
        Some(digits),
    );
    check(
        "fold-in-order",
        Dataset::range(50).fold::<push_len, join_vecs>(Vec::new())?,
        (0..50).collect::<Vec<u64>>(),
    );
    check(
        "flat_map",
        Dataset::range(100).flat_map::<repeat>().collect()?,
        (0..100u64)
            .flat_map(|x| vec![x; (x % 3) as usize])
            .collect::<Vec<_>>(),
    );
    let sizes = Dataset::range(10)
        .map_partitions::<partition_len>()
        .collect()?;
    check("map_partitions", sizes.iter().sum::<u64>(), 10);
    check("partitions", sizes.len(), blazer::size() as usize);
    check(
        "generate",
        Dataset::generate::<times_ten>(1000).collect()?,
        (0..1000).map(|i| i * 10).collect::<Vec<u64>>(),
    );
    let items: Vec<u64> = (0..777).rev().collect();
    check(
        "scatter",
        Dataset::scatter(items.clone()).collect()?,
        items.clone(),
    );
    check(
        "from_map",
        Dataset::from_map::<square>(items.clone()).collect()?,
        items.iter().map(|x| x * x).collect::<Vec<_>>(),
    );
    // Fewer items than ranks, and none at all.
    check(
        "tiny",
        Dataset::range(2).map::<square>().collect()?,
        vec![0, 1],
    );
    check("empty-count", Dataset::range(0).count()?, 0);
    check("empty-reduce", Dataset::range(0).reduce::<add>()?, None);
    check(
        "empty-scatter",
        Dataset::<u64>::scatter(Vec::new()).collect()?,
        Vec::new(),
    );
    // A dataset read by two steps: the first does not take the partitions away.
    let base = Dataset::range(100);
    let squares = base.clone().map::<square>();
    check("kept", base.count()? + squares.count()?, 200);
    Ok(())
}

fn halo() -> blazer::Result<()> {
    let n = 4096 + blazer::size() as usize * 3;
    let field: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64).collect();
    for (border, periodic) in [(Border::Periodic, true), (Border::Open, false)] {
        let mut serial = field.clone();
        let mut dist = Dataset::scatter(field.clone());
        for _ in 0..25 {
            serial = heat_serial(&serial, periodic);
            dist = dist.map_overlap::<heat_step>(1, border);
        }
        let got = dist.collect()?;
        // Bit for bit: the same arithmetic in the same order.
        let same = got.len() == serial.len()
            && got
                .iter()
                .zip(&serial)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        check(&format!("heat-{periodic}"), same, true);
    }
    // A wider halo, periodic, on integers.
    let ints: Vec<i64> = (0..200).map(|i| i * i % 17).collect();
    let wide = Dataset::scatter(ints.clone())
        .map_overlap::<window_sum>(2, Border::Periodic)
        .collect()?;
    let m = ints.len() as i64;
    let want: Vec<i64> = (0..m)
        .map(|i| (-2..=2).map(|d| ints[((i + d + m) % m) as usize]).sum())
        .collect();
    check("halo-2-periodic", wide, want);
    // A halo wider than a neighbour partition: a clear error.
    let short = Dataset::range(blazer::size() as u64)
        .map::<times_ten>()
        .map_partitions::<to_i64>()
        .map_overlap::<window_sum>(3, Border::Periodic)
        .collect();
    match short {
        Err(e) if blazer::size() > 1 => println!("SHORT {e}"),
        Err(e) => println!("SHORT {e}"),
        Ok(v) => println!("SHORT ok {v:?}"),
    }
    Ok(())
}

#[blazer::task]
fn to_i64(items: Vec<u64>) -> Vec<i64> {
    items.into_iter().map(|x| x as i64).collect()
}

fn shuffle() -> blazer::Result<()> {
    let lines = 2000u64;
    let mut serial: HashMap<String, u64> = HashMap::new();
    for i in 0..lines {
        for (w, c) in words_of_serial(i) {
            *serial.entry(w).or_default() += c;
        }
    }
    let mut want: Vec<(String, u64)> = serial.into_iter().collect();
    want.sort();
    let text = Dataset::generate::<line_of>(lines);
    let mut counted = text
        .clone()
        .flat_map::<words_of>()
        .reduce_by_key::<count_words>()
        .collect()?;
    counted.sort();
    check("reduce_by_key", counted, want.clone());
    let mut grouped: Vec<(String, u64)> = text
        .flat_map::<words_of>()
        .group_by_key()
        .collect()?
        .into_iter()
        .map(|(k, v)| (k, v.iter().sum()))
        .collect();
    grouped.sort();
    check("group_by_key", grouped, want);
    Ok(())
}

fn words_of_serial(i: u64) -> Vec<(String, u64)> {
    const WORDS: [&str; 7] = ["alpha", "beta", "gamma", "delta", "mu", "pi", "rho"];
    (0..(i % 5 + 1))
        .map(|k| (WORDS[((i * 31 + k * 7) % 7) as usize].to_string(), 1))
        .collect()
}

#[blazer::task]
fn in_first_tenth(x: u64) -> bool {
    x < 1000
}

fn rebalance() -> blazer::Result<()> {
    // Everything left in the first partition(s), then evened out.
    let skewed = Dataset::range(10_000).filter::<in_first_tenth>();
    let even = skewed.clone().rebalance();
    let sizes = even.clone().map_partitions::<partition_len>().collect()?;
    let spread = sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0);
    check("rebalanced-sizes", spread <= 1, true);
    check(
        "rebalanced-items",
        even.collect()?,
        (0..1000).collect::<Vec<u64>>(),
    );
    check("skewed-kept", skewed.count()?, 1000);
    Ok(())
}

fn failure() -> blazer::Result<()> {
    let bad = Dataset::range(1000).map::<fragile>().map::<square>();
    match bad.reduce::<add>() {
        Err(e) => println!("ERROR {e}"),
        Ok(v) => println!("NO ERROR {v:?}"),
    }
    match bad.collect() {
        Err(e) => println!("ERROR {e}"),
        Ok(v) => println!("NO ERROR {}", v.len()),
    }
    // The job goes on.
    check("after", Dataset::range(10).reduce::<add>()?, Some(45));
    Ok(())
}

fn free() -> blazer::Result<()> {
    // Warm up the allocator on every rank, then measure.
    for _ in 0..20 {
        Dataset::range(20_000).map::<times_ten>().count()?;
    }
    let before: Vec<u64> = blazer::on_every_rank(blazer::call::<rss>(()))?;
    for i in 0..1000u64 {
        let d = Dataset::range(20_000).map::<times_ten>();
        if i % 100 == 0 {
            check(&format!("alive-{i}"), d.count()?, 20_000);
        }
    }
    // Held by every rank after the drops: none.
    let held: Vec<u64> = blazer::on_every_rank(blazer::call::<held>(()))?;
    check("held", held.iter().sum::<u64>(), 0);
    let kept = Dataset::range(10);
    let held: Vec<u64> = blazer::on_every_rank(blazer::call::<held>(()))?;
    check("held-one", held, vec![1; blazer::size() as usize]);
    drop(kept);
    let after: Vec<u64> = blazer::on_every_rank(blazer::call::<rss>(()))?;
    let growth = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.saturating_sub(*b))
        .max()
        .unwrap_or(0);
    println!("RSS_GROWTH_KIB {growth}");
    Ok(())
}

/// This process's resident memory.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Stops the process that runs it on the last rank (for 10 s): a rank that stops answering
/// in the middle of a dataset step.
#[blazer::task]
fn freeze_on_last_rank(x: u64) -> u64 {
    if blazer::rank() == blazer::size() - 1 && x % 1000 == 999 {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("sh")
            .args(["-c", &format!("sleep 10; kill -CONT {pid}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status();
    }
    x
}

/// Appends a line to `BLAZER_DATASETS_LOG` each time it runs: how a test counts what a
/// resumed run computed again.
#[blazer::task]
fn logged(x: u64) -> u64 {
    if let Some(path) = std::env::var_os("BLAZER_DATASETS_LOG") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("log");
        writeln!(f, "{x}").expect("log line");
    }
    x * 3
}

/// A checkpointed `map`, a dataset made from its results, and a dataset step of the same
/// task: on a resumed run the `map` comes from the checkpoint and the dataset is computed
/// again.
fn checkpointed() -> blazer::Result<()> {
    let mapped = blazer::map(blazer::task::<logged>(), 0..100u64)?;
    let total = Dataset::scatter(mapped).map::<logged>().reduce::<add>()?;
    println!("TOTAL {total:?}");
    Ok(())
}

/// Makes a dataset inside a task: refused with an error, not a hang.
#[blazer::task]
fn nested(n: u64) -> String {
    match Dataset::range(n).count() {
        Ok(c) => format!("counted {c}"),
        Err(e) => e.to_string(),
    }
}

fn misuse() -> blazer::Result<()> {
    let inside: Vec<String> = blazer::map(blazer::task::<nested>(), vec![10u64])?;
    println!("NESTED {}", inside[0]);
    let off_thread = std::thread::spawn(|| match Dataset::range(10).count() {
        Ok(c) => format!("counted {c}"),
        Err(e) => e.to_string(),
    })
    .join()
    .expect("thread");
    println!("THREAD {off_thread}");
    check("after-misuse", Dataset::range(10).count()?, 10);
    Ok(())
}

/// With `BLAZER_WORKER_TIMEOUT`: the last rank stops inside a step; the action on the
/// dataset fails, the rank is declared lost, the dataset is made again from its lineage on
/// the ranks left, and the action's result is the serial one. Datasets made after the loss
/// live on the ranks left.
fn recover() -> blazer::Result<()> {
    let n = 1000 * blazer::size() as u64;
    let field: Vec<f64> = (0..4000).map(|i| ((i * 37) % 101) as f64).collect();
    let kept = Dataset::scatter(field.clone());
    let stalled = Dataset::range(n)
        .map::<freeze_on_last_rank>()
        .map::<square>();
    let want: u64 = (0..n).map(|x| x * x).sum();
    check("recovered-reduce", stalled.reduce::<add>()?, Some(want));
    check(
        "recovered-partitions",
        stalled.partitions(),
        blazer::size() as usize - 1,
    );
    check("recovered-collect", stalled.take(3)?, vec![0, 1, 4]);
    // A scattered dataset made before the loss, made again from the driver's copy.
    let mut serial = field.clone();
    let mut dist = kept;
    for _ in 0..5 {
        serial = heat_serial(&serial, true);
        dist = dist.map_overlap::<heat_step>(1, Border::Periodic);
    }
    let got = dist.collect()?;
    check(
        "recovered-stencil",
        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        serial.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
    );
    check("after-loss-new", Dataset::range(100).count()?, 100);
    Ok(())
}

/// Kills the process that runs it on the last rank (SIGKILL): a rank that dies.
#[blazer::task]
fn die_on_last_rank(x: u64) -> u64 {
    if blazer::rank() == blazer::size() - 1 {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
    }
    x
}

/// Without `BLAZER_RETRIES` or `BLAZER_WORKER_TIMEOUT`: a rank that dies in a step ends
/// the job (MPI's default), and the launcher names it.
fn killed() -> blazer::Result<()> {
    let dead = Dataset::range(100 * blazer::size() as u64).map::<die_on_last_rank>();
    println!("KILLED {:?}", dead.reduce::<add>());
    Ok(())
}
