//! `example1` written with the `blazer!` composition language: the same computations as
//! `example1.rs` (which uses plain calls), and the same output.
//!
//! `mpirun -n 4 --oversubscribe target/release/examples/example1_macro`
//!
//! Differences from the Python output, all deliberate fixes: results come back in input
//! order; `where` really filters (the original's nested `where` kept everything); a pipeline's
//! first stage gets the bare value, not a 1-tuple; nested primitives never take each other's
//! results; `scatter` pads nothing, so no `{'some': None}` appears.

use blazer::{blazer, call, r#where, select, Call};
use blazer_suite::example1::{
    add_date, calc_more_stuff, calc_some, calc_stuff, listed, INPUT_DATA,
};
use blazer_suite::Value;

#[blazer::main]
fn main() -> blazer::Result<()> {
    let result1 = blazer! {
        parallel[calc_stuff(1), calc_stuff(2), calc_stuff(3), calc_stuff(4), calc_stuff(5)]
    }?;
    blazer::root_println!("PARALLEL1: {}", Value::List(result1.clone()));

    // Build a list of calls locally, pipe style, then run them in parallel.
    let calls: Vec<Call<Value>> = (result1
        | r#where(|g: &Value| g.get("this").and_then(Value::as_int) > Some(1))
        | select(|g: Value| {
            call::<calc_stuff>(Value::Int(
                g.get("this").and_then(Value::as_int).unwrap_or(0) * 2,
            ))
        }))
    .collect();
    let result = blazer::parallel(calls)?;
    blazer::root_println!("PARALLEL2: {}", Value::List(result));

    let r = blazer! { pipeline[calc_stuff("DATA"), pipeline[calc_some, add_date], calc_stuff] }?;
    blazer::root_println!("PIPELINE: {r}");

    let size = i64::from(blazer::size());
    let scatter_data = blazer! { scatter((0..size * 2 + 2).map(Value::Int), calc_some) }?;
    blazer::root_println!("SCATTER_DATA: {}", Value::List(scatter_data.clone()));

    let result = blazer! {
        pipeline[
            calc_stuff(INPUT_DATA),
            add_date,
            constant(Value::List(scatter_data)),
            parallel[
                calc_some,
                pipeline[calc_stuff, parallel[calc_some, calc_some], listed, calc_stuff],
                calc_some,
            ] as Vec,
            calc_more_stuff,
        ]
    }?;
    blazer::root_println!("PIPELINE RESULT: {}", Value::List(result));

    // A generator: any iterator works, and only rank 0 iterates it.
    let result = blazer! { scatter((0..size * 2).map(Value::Int), calc_some) }?;
    blazer::root_println!("SCATTER: {}", Value::List(result));
    Ok(())
}
