//! Execution: runs a [`Plan`] or a [`Batch`] in this process, turning panics and task errors
//! into [`TaskFailure`]s. It knows tasks and plans, not messages: the worker and the driver
//! (running work inline) both call it.

pub(crate) use crate::error::panic_message;
use crate::error::TaskFailure;
use crate::registry::Registry;
use crate::wire::payload::Payload;
use crate::wire::plan::{join_outputs, Batch, Packed, Plan};
use crate::world;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// The task this thread is running, for the panic hook.
    static CURRENT_TASK: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Makes a panic inside a task print one line naming the task and rank (the driver gets the
/// message as the task's failure anyway); other panics keep the default report. Set
/// `BLAZER_BACKTRACE=1` to keep full backtraces for task panics too.
pub(crate) fn install_panic_hook() {
    if crate::config::config().backtrace {
        return;
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match CURRENT_TASK.get() {
        Some(task) => {
            let message = panic_message(info.payload());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!(
                "blazer: task `{task}` panicked on rank {}{at}: {message}",
                world::rank()
            );
        }
        None => default(info),
    }));
}

/// Runs `plan` on the encoded `input`.
pub(crate) fn execute(plan: &Plan, input: Payload) -> Result<Payload, TaskFailure> {
    match plan {
        // The bound leading arguments, then the stage input (postcard concatenation).
        Plan::Task { id, bound } if bound.is_empty() => run_task(*id, input),
        Plan::Task { id, bound } => run_task(*id, bound.clone().then(input)),
        Plan::Pipeline(stages) => {
            let mut value = input;
            for stage in stages {
                value = execute(stage, value)?;
            }
            Ok(value)
        }
        Plan::Const(value) => Ok(value.clone()),
        Plan::Each(stages) => each(stages, input),
        Plan::Data(step) => run_data_step(step, input),
        Plan::Tuple(branches) | Plan::List(branches) => {
            let outputs = branches
                .iter()
                .map(|b| execute(b, input.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(join_outputs(matches!(plan, Plan::List(_)), outputs))
        }
    }
}

/// Runs `plan` on `input`, consuming it: a task's bound arguments move into its call (a
/// vector given to [`crate::call`] is then taken over by the task, not copied).
/// Runs `stages` on each item of the [`Packed`] list `input`; the output is the packed list
/// of their outputs, each item failing on its own.
fn each(stages: &[Plan], input: Payload) -> Result<Payload, TaskFailure> {
    let packed: Packed = input
        .decode()
        .map_err(|e| failure("?", format!("a packed batch that does not decode: {e}")))?;
    let items = packed
        .items()
        .ok_or_else(|| failure("?", "a packed batch whose lengths do not fit".into()))?;
    let mut out = Packed::default();
    for item in items {
        let ran = match item {
            Ok(bytes) => stages
                .iter()
                .try_fold(Payload::from(bytes.to_vec()), |value, stage| {
                    execute(stage, value)
                }),
            Err(failure) => Err(failure.clone()),
        };
        match ran {
            Ok(output) => match output.flat_bytes() {
                Some(bytes) => out.push(bytes),
                None => out.push(&output.to_vec()),
            },
            Err(failure) => out.fail(failure),
        }
    }
    Payload::encode(&out).map_err(|e| failure("?", format!("packed outputs: {e}")))
}

fn execute_owned(plan: Plan, input: Payload) -> Result<Payload, TaskFailure> {
    match plan {
        Plan::Task { id, bound } => run_task(id, bound.then(input)),
        other => execute(&other, input),
    }
}

/// Runs a dataset step on this rank's partition (a worker's batch, or the driver's own
/// part), as a span of the trace and the report when they are on.
pub(crate) fn run_data_step(
    step: &crate::wire::data_op::DataStep,
    input: Payload,
) -> Result<Payload, TaskFailure> {
    let start = crate::trace::enabled().then(crate::trace::now_us);
    let out = crate::dist::run::run(step, input);
    if let (Some(start), Some(label)) = (start, crate::dist::run::label(step)) {
        crate::trace::record(label, start);
    }
    out
}

/// Calls task `id` on its encoded arguments.
fn run_task(id: crate::task::TaskId, args: Payload) -> Result<Payload, TaskFailure> {
    let entry = Registry::global()
        .ok()
        .and_then(|r| r.get(id))
        .ok_or_else(|| failure("?", format!("no task with ID {:#018x} on this rank", id.0)))?;
    let outer = CURRENT_TASK.replace(Some(entry.name));
    let start = crate::trace::enabled().then(crate::trace::now_us);
    let outcome = catch_unwind(AssertUnwindSafe(|| (entry.invoke)(args)));
    if let Some(start) = start {
        crate::trace::record(entry.name, start);
    }
    CURRENT_TASK.set(outer);
    match outcome {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(message)) => Err(failure(entry.name, message)),
        Err(panic) => Err(failure(
            entry.name,
            format!("panicked: {}", panic_message(&*panic)),
        )),
    }
}

/// Runs a whole batch: one output per input, or one folded output. The inputs are
/// consumed, so that a task can take over their received buffers.
pub(crate) fn run_batch(batch: Batch) -> Vec<Result<Payload, TaskFailure>> {
    let Batch {
        fold, plan, inputs, ..
    } = batch;
    if !fold {
        let mut outputs = Vec::with_capacity(inputs.len());
        let mut inputs = inputs.into_iter();
        let last = inputs.next_back();
        outputs.extend(inputs.map(|i| execute(&plan, i)));
        outputs.extend(last.map(|i| execute_owned(plan, i)));
        return outputs;
    }
    let mut items = inputs.into_iter();
    let Some(first) = items.next() else {
        return vec![Err(failure("?", "fold of an empty batch".into()))];
    };
    let mut acc = first;
    for item in items {
        acc = match execute(&plan, acc.then(item)) {
            Ok(v) => v,
            Err(f) => return vec![Err(f)],
        };
    }
    vec![Ok(acc)]
}

fn failure(task: &str, message: String) -> TaskFailure {
    TaskFailure {
        task: task.to_string(),
        rank: world::rank(),
        host: world::host(),
        message,
    }
}
