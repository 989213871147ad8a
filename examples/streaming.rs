//! The original blazer's streaming map/reduce example, ported: the data flows from a
//! generator through a mapping stream and a reducing stream without ever being held whole.
//!
//! `mpirun -n 4 --oversubscribe target/release/examples/streaming`

use blazer::{chunks, stream, task};
use blazer_suite::Value;

/// A generator of 1000 random records, `{'one': 1, 'value': v}` or `{'zero': 0, 'value': v}`
/// (a fixed-seed generator, so every run prints the same totals).
fn datagen() -> impl Iterator<Item = Value> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..1000).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (r, v) = ((state >> 33) & 1, (state >> 8) % 100);
        let first = if r == 1 { ("one", 1) } else { ("zero", 0) };
        Value::Map(vec![
            (first.0.into(), Value::Int(first.1)),
            ("value".into(), Value::Int(v as i64)),
        ])
    })
}

/// Tags a record with its key: the name of its first field.
#[blazer::task]
fn map(mut datum: Value) -> Value {
    let key = match &datum {
        Value::Map(entries) => entries[0].0.clone(),
        _ => String::new(),
    };
    datum.insert("key", Value::Str(key));
    datum
}

/// Groups a chunk of records by key: `[{'rank': r, 'one': n}, {'rank': r, 'zero': m}]`.
#[blazer::task]
fn reduce(datalist: Vec<Value>) -> Value {
    let mut groups: Vec<(String, i64)> = Vec::new();
    for d in &datalist {
        let Some(Value::Str(key)) = d.get("key") else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| k == key) {
            Some(g) => g.1 += 1,
            None => groups.push((key.clone(), 1)),
        }
    }
    groups.sort();
    let rank = i64::from(blazer::rank());
    Value::List(
        groups
            .into_iter()
            .map(|(k, n)| Value::Map(vec![("rank".into(), Value::Int(rank)), (k, Value::Int(n))]))
            .collect(),
    )
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    let mapper = stream(datagen(), task::<map>());
    let reducer = stream(chunks(mapper, 100), task::<reduce>());
    let (mut ones, mut zeros) = (0, 0);
    for result in reducer {
        let result = result?;
        blazer::root_println!("RESULT {result}");
        if let Value::List(groups) = &result {
            for g in groups {
                ones += g.get("one").and_then(Value::as_int).unwrap_or(0);
                zeros += g.get("zero").and_then(Value::as_int).unwrap_or(0);
            }
        }
    }
    blazer::root_println!("TOTAL one={ones} zero={zeros}");
    Ok(())
}
