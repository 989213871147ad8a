//! A test program for bulk data (`tests/bulk.rs`): task arguments and results of any size,
//! as users pass them. `blazer-bulk MODE [SIZES...]`.
//!
//! The data carry a pattern that is cheap to build and to check even in a debug build (only
//! `memcpy`/`memcmp`-backed slice operations): a 4 KiB template, repeated, with each MiB
//! stamped with its index, so that a lost, repeated or reordered piece is seen.

use blazer::serde_bytes::ByteBuf;
use blazer::{call, RawVec};

const PERIOD: usize = 4096;
const MIB: usize = 1 << 20;

fn template() -> Vec<u8> {
    (0..PERIOD).map(|i| (i * 7 + 3) as u8).collect()
}

/// `len` bytes of the pattern.
fn pattern(len: usize) -> Vec<u8> {
    let t = template();
    let mut v = Vec::with_capacity(len);
    while v.len() + PERIOD <= len {
        v.extend_from_slice(&t);
    }
    v.extend_from_slice(&t[..len - v.len()]);
    for (i, mib) in v.chunks_mut(MIB).enumerate() {
        if mib.len() >= 8 {
            mib[..8].copy_from_slice(&(i as u64).to_le_bytes());
        }
    }
    v
}

/// Whether `v` is `pattern(len)`; the first wrong MiB otherwise.
fn check(v: &[u8], len: usize) -> Result<(), String> {
    if v.len() != len {
        return Err(format!("{} bytes where {len} were sent", v.len()));
    }
    let t = template();
    for (i, mib) in v.chunks(MIB).enumerate() {
        let stamp = if mib.len() >= 8 { 8 } else { 0 };
        let ok = mib[..stamp] == (i as u64).to_le_bytes()[..stamp]
            && mib.chunks(PERIOD).enumerate().all(|(k, c)| {
                let from = if k == 0 { stamp } else { 0 };
                c[from..] == t[from..c.len()]
            });
        if !ok {
            return Err(format!("MiB {i} differs"));
        }
    }
    Ok(())
}

/// Checks an argument on the worker (sent as it lies); answers its length, or why it is
/// wrong. The driver compares the length.
#[blazer::task]
fn take_bytes(data: ByteBuf) -> Result<u64, String> {
    check(&data, data.len()).map(|_| data.len() as u64)
}

/// The same beside a second argument: the pair goes through serde (one copy each way).
#[blazer::task]
fn take_pair(data: ByteBuf, len: u64) -> Result<u64, String> {
    check(&data, len as usize).map(|_| data.len() as u64)
}

/// Makes a result of `len` bytes on the worker.
#[blazer::task]
fn make_bytes(len: u64) -> ByteBuf {
    ByteBuf::from(pattern(len as usize))
}

/// Sums a vector of `f64`s (the argument crosses as a plain `Vec<f64>`).
#[blazer::task]
fn sum_f64(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

/// Echoes a vector of integers (it travels as its memory).
#[blazer::task]
fn echo_i64(v: Vec<i64>) -> Vec<i64> {
    v
}

/// `k` times the sum: the vector is the last of two arguments, so the worker reads it
/// through serde (its memory turned into postcard's varints there).
#[blazer::task]
fn scaled_sum(k: i64, v: Vec<i64>) -> i64 {
    k * v.iter().sum::<i64>()
}

/// Echoes a `RawVec<f64>`.
#[blazer::task]
fn echo_raw(v: RawVec<f64>) -> RawVec<f64> {
    v
}

fn sizes(args: &[String]) -> Vec<usize> {
    args.iter()
        .map(|a| a.parse().expect("a size in bytes"))
        .collect()
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    match mode {
        // Each size as an argument, then as a result.
        "huge" => {
            for len in sizes(&args[1..]) {
                let data = ByteBuf::from(pattern(len));
                let got = blazer::parallel([call::<take_bytes>(data)])?;
                blazer::root_println!("ARG {len} OK {}", got[0]);
                let back = blazer::parallel([call::<make_bytes>(len as u64)])?;
                match check(&back[0], len) {
                    Ok(()) => blazer::root_println!("RESULT {len} OK"),
                    Err(e) => blazer::root_println!("RESULT {len} WRONG {e}"),
                }
            }
        }
        // Each size as one of two arguments (serde's path).
        "huge-pair" => {
            for len in sizes(&args[1..]) {
                let data = ByteBuf::from(pattern(len));
                let got = blazer::parallel([call::<take_pair>((data, len as u64))])?;
                blazer::root_println!("PAIR {len} OK {}", got[0]);
            }
        }
        // Values that cannot be received: a clear error, and the job goes on.
        "unreceivable" => {
            for len in sizes(&args[1..]) {
                let data = ByteBuf::from(pattern(len));
                match blazer::parallel([call::<take_bytes>(data)]) {
                    Ok(v) => blazer::root_println!("ARG {len} OK {}", v[0]),
                    Err(e) => blazer::root_println!("ARG {len} ERR {e}"),
                }
            }
            let v = blazer::map(blazer::task::<sum_f64>(), [vec![1.0, 2.0], vec![3.0]])?;
            blazer::root_println!("AFTER {v:?}");
        }
        // Many items of plain vectors through map and scatter, results in order.
        "vectors" => {
            let items: Vec<Vec<f64>> = (0..64).map(|i| vec![i as f64; 40_000]).collect();
            let sums = blazer::map(blazer::task::<sum_f64>(), items.clone())?;
            let scattered = blazer::scatter(items, blazer::task::<sum_f64>())?;
            let want: Vec<f64> = (0..64).map(|i| i as f64 * 40_000.0).collect();
            blazer::root_println!("MAP {}", sums == want);
            blazer::root_println!("SCATTER {}", scattered == want);
            let raws: Vec<RawVec<f64>> = (0..8).map(|i| RawVec(vec![i as f64; 1 << 17])).collect();
            let back = blazer::map(blazer::task::<echo_raw>(), raws.clone())?;
            blazer::root_println!("RAW {}", back == raws);
            let ints: Vec<Vec<i64>> = (0..8)
                .map(|i| {
                    (0..20_000)
                        .map(|j| ((j - 10_000) * (i + 1)) << 20)
                        .collect()
                })
                .collect();
            let echoed = blazer::map(blazer::task::<echo_i64>(), ints.clone())?;
            let sums = blazer::map(blazer::partial::<scaled_sum>(3), ints.clone())?;
            let want: Vec<i64> = ints.iter().map(|v| 3 * v.iter().sum::<i64>()).collect();
            blazer::root_println!("INTS {} {}", echoed == ints, sums == want);
        }
        other => {
            return Err(blazer::Error::Usage(format!("unknown mode `{other}`")));
        }
    }
    Ok(())
}
