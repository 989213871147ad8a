//! The original blazer's `example1.py`, ported: `parallel`, `where`/`select`, `pipeline` with
//! nesting, `scatter` and generator `scatter`.
//!
//! `mpirun -n 4 --oversubscribe target/release/examples/example1`
//!
//! Differences from the Python output, all deliberate fixes: results come back in input
//! order; `where` really filters (the original's nested `where` kept everything); a pipeline's
//! first stage gets the bare value, not a 1-tuple; nested primitives never take each other's
//! results; `scatter` pads nothing, so no `{'some': None}` appears.

use blazer::{call, constant, fork, r#where, select, task, Call};
use blazer_suite::example1::{
    add_date, calc_more_stuff, calc_some, calc_stuff, listed, INPUT_DATA,
};
use blazer_suite::Value;

#[blazer::main]
fn main() -> blazer::Result<()> {
    let result1 = blazer::parallel((1..=5).map(|i| call::<calc_stuff>(Value::Int(i))))?;
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

    let r = blazer::pipeline(
        call::<calc_stuff>("DATA".into())
            .then(task::<calc_some>().then(task::<add_date>()))
            .then(task::<calc_stuff>()),
    )?;
    blazer::root_println!("PIPELINE: {r}");

    let size = i64::from(blazer::size());
    let scatter_data = blazer::scatter((0..size * 2 + 2).map(Value::Int), task::<calc_some>())?;
    blazer::root_println!("SCATTER_DATA: {}", Value::List(scatter_data.clone()));

    let result = blazer::pipeline(
        call::<calc_stuff>(INPUT_DATA.into())
            .then(task::<add_date>())
            .then(constant(Value::List(scatter_data)))
            .then(fork(vec![
                task::<calc_some>(),
                task::<calc_stuff>()
                    .then(fork(vec![task::<calc_some>(), task::<calc_some>()]))
                    .then(task::<listed>())
                    .then(task::<calc_stuff>()),
                task::<calc_some>(),
            ]))
            .then(task::<calc_more_stuff>()),
    )?;
    blazer::root_println!("PIPELINE RESULT: {}", Value::List(result));

    // A generator: any iterator works, and only rank 0 iterates it.
    let get_data = (0..size * 2).map(Value::Int);
    let result = blazer::scatter(get_data, task::<calc_some>())?;
    blazer::root_println!("SCATTER: {}", Value::List(result));
    Ok(())
}
