//! The tasks of `example1` and `example1_macro` (the same computation written with plain
//! calls and with `blazer!`), ported from the original blazer's `example1.py`.

use crate::{utc_now, Value};

/// The input of the last pipeline of the example.
pub const INPUT_DATA: &str = "that";

/// Do some calculations.
#[blazer::task]
pub fn calc_some(value: Value) -> Value {
    Value::single("some", value)
}

/// Do some calculations.
#[blazer::task]
pub fn calc_stuff(value: Value) -> Value {
    Value::single("this", value)
}

/// Stamp a map with the current date.
#[blazer::task]
pub fn add_date(mut result: Value) -> Value {
    result.insert("date", Value::Str(utc_now()));
    result
}

/// Do some more calculations.
#[blazer::task]
pub fn calc_more_stuff(mut result: Vec<Value>) -> Vec<Value> {
    result.push(Value::single("more", "stuff".into()));
    result
}

/// Turn the outputs of a parallel stage into one value.
#[blazer::task]
pub fn listed(values: Vec<Value>) -> Value {
    Value::List(values)
}
