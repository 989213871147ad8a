//! [`Flow`]: a typed computation built from tasks, checked by the compiler stage by stage.

use crate::driver::dispatch;
use crate::error::Error;
use crate::error::Result;
use crate::task::Task;
use crate::wire::payload::{ArgPieces, Payload};
use crate::wire::plan::Plan;
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;

/// A computation from `In` to `Out`, built from tasks with [`task`], [`partial`], [`call`],
/// [`Flow::then`] and [`fork`]. Plugging a stage whose input type differs from the previous
/// output does not compile.
///
/// ```no_run
/// # use blazer_runtime as blazer;
/// # use blazer::{Flow, task};
/// # fn demo<A: blazer::Task<Input = i64, Output = i64>, B: blazer::Task<Input = i64, Output = String>>() -> blazer::Result<()> {
/// let flow: Flow<i64, String> = task::<A>().then(task::<B>());
/// let text = flow.run(20)?;
/// # Ok(()) }
/// ```
pub struct Flow<In, Out> {
    plan: Result<Plan>,
    /// How the input is encoded, when not as one value: a task's arguments one by one.
    encode: Option<fn(In) -> Result<Payload>>,
    types: PhantomData<fn(In) -> Out>,
}

/// A flow that needs no input: a task with all its arguments bound.
pub type Call<Out> = Flow<(), Out>;

impl<In, Out> Clone for Flow<In, Out> {
    fn clone(&self) -> Self {
        Flow {
            plan: self.plan.clone(),
            encode: self.encode,
            types: PhantomData,
        }
    }
}

impl<In, Out> std::fmt::Debug for Flow<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").field("plan", &self.plan).finish()
    }
}

impl<In, Out> Flow<In, Out> {
    fn from_plan(plan: Result<Plan>) -> Self {
        Flow {
            plan,
            encode: None,
            types: PhantomData,
        }
    }

    /// Feeds this flow's output into `next`. A `next` that takes another type than `Out`
    /// is a compile error naming both types.
    pub fn then<Next>(self, next: Flow<Out, Next>) -> Flow<In, Next> {
        Flow {
            plan: self.plan.and_then(|a| next.plan.map(|b| a.then(b))),
            encode: self.encode,
            types: PhantomData,
        }
    }

    /// Encodes an input of this flow: a task's arguments one by one (each in its own form,
    /// see `wire/payload.rs`), any other input as one value.
    pub(crate) fn encode_input(&self, input: In) -> Result<Payload>
    where
        In: Serialize + 'static,
    {
        match self.encode {
            Some(encode) => encode(input),
            None => Payload::encode_owned(input),
        }
    }

    /// Whether an input is encoded as one value (not argument by argument): it can then
    /// be packed in place beside others (`wire/plan.rs`, `Packed`).
    pub(crate) fn takes_one_value(&self) -> bool {
        self.encode.is_none()
    }

    /// The wire form of this flow, consumed (no copy of bound arguments).
    pub(crate) fn into_plan(self) -> Result<Plan> {
        self.plan
    }

    /// The wire form of this flow, or the error met while building it.
    pub(crate) fn plan(&self) -> Result<&Plan> {
        self.plan.as_ref().map_err(Clone::clone)
    }

    /// Runs the flow on `input` across the ranks and returns its output.
    ///
    /// Task stages run on workers; each [`fork`] stage spreads its branches over the workers.
    pub fn run(&self, input: In) -> Result<Out>
    where
        In: Serialize + 'static,
        Out: DeserializeOwned + 'static,
    {
        let input = self.encode_input(input)?;
        dispatch::drive(self.plan()?, input)?.decode()
    }
}

/// The task `T` as a flow from its arguments to its output.
pub fn task<T: Task>() -> Flow<T::Input, T::Output> {
    Flow {
        plan: Ok(Plan::Task {
            id: T::ID,
            bound: Payload::default(),
        }),
        // One argument or none: the input is the one value (no per-argument pieces).
        encode: (T::ARITY >= 2).then_some(encode_args::<T> as fn(T::Input) -> Result<Payload>),
        types: PhantomData,
    }
}

/// The arguments of `T`, encoded one by one (one argument or none: the input as it is).
fn encode_args<T: Task>(input: T::Input) -> Result<Payload> {
    let mut pieces = ArgPieces::default();
    T::split_input(input, &mut pieces).map_err(Error::Encode)?;
    Ok(pieces.into_payload())
}

/// Partial application: `T` with every argument but the last bound to `head`. The last
/// argument comes from the stage before (or from [`Flow::run`]).
///
/// For a task `fn scale(factor: f64, x: f64) -> f64`, `partial::<scale>(2.0)` is a
/// `Flow<f64, f64>`; with three or more arguments, `head` is a tuple.
pub fn partial<T: Task>(head: T::Head) -> Flow<T::Last, T::Output> {
    let mut pieces = ArgPieces::default();
    // With two arguments or more, the bound ones end in the slot of the stage input, so that
    // the task gets exactly one piece per argument, the input's too (even a `()`). A task of
    // one argument or none has nothing bound: its input is all its arguments.
    let bound = T::split_head(head, &mut pieces)
        .map_err(Error::Encode)
        .map(|()| match T::ARITY {
            0 | 1 => Payload::default(),
            _ => pieces.into_open_payload(),
        });
    Flow::from_plan(bound.map(|bound| Plan::Task { id: T::ID, bound }))
}

/// `T` with all its arguments bound: a ready call for [`crate::parallel`] or the first
/// stage of a [`crate::pipeline`].
pub fn call<T: Task>(input: T::Input) -> Call<T::Output> {
    Flow::from_plan(encode_args::<T>(input).map(|bound| Plan::Task { id: T::ID, bound }))
}

/// A stage that ignores its input and outputs `value` (the original's data-as-a-stage, made
/// explicit).
pub fn constant<In, T: Serialize>(value: T) -> Flow<In, T> {
    Flow::from_plan(Payload::encode(&value).map(Plan::Const))
}

/// A stage that feeds its input to every branch in parallel. A tuple of flows yields a tuple
/// of outputs; a `Vec` of flows yields a `Vec`.
pub fn fork<In, B: Branches<In>>(branches: B) -> Flow<In, B::Out> {
    Flow::from_plan(branches.into_fork().0)
}

/// Branches of a [`fork`]: a `Vec` of flows or a tuple of up to eight flows with one input type.
pub trait Branches<In> {
    /// The output of the fork.
    type Out;
    /// The fan-out plan (opaque: blazer's wire form).
    #[doc(hidden)]
    fn into_fork(self) -> ForkPlan;
}

/// The wire form of a [`fork`]'s branches; opaque outside blazer.
#[doc(hidden)]
#[derive(Debug)]
pub struct ForkPlan(Result<Plan>);

impl<In, O> Branches<In> for Vec<Flow<In, O>> {
    type Out = Vec<O>;
    fn into_fork(self) -> ForkPlan {
        ForkPlan(
            self.into_iter()
                .map(|f| f.plan)
                .collect::<Result<_>>()
                .map(Plan::List),
        )
    }
}

macro_rules! tuple_branches {
    ($($o:ident),+) => {
        impl<In, $($o),+> Branches<In> for ($(Flow<In, $o>,)+) {
            type Out = ($($o,)+);
            #[allow(non_snake_case)]
            fn into_fork(self) -> ForkPlan {
                let ($($o,)+) = self;
                ForkPlan((|| Ok(Plan::Tuple(vec![$($o.plan?),+])))())
            }
        }
    };
}
tuple_branches!(A);
tuple_branches!(A, B);
tuple_branches!(A, B, C);
tuple_branches!(A, B, C, D);
tuple_branches!(A, B, C, D, E);
tuple_branches!(A, B, C, D, E, F);
tuple_branches!(A, B, C, D, E, F, G);
tuple_branches!(A, B, C, D, E, F, G, H);

// What `blazer!` expands to call (through `blazer::__private`), beside the functions above.
// Each signature takes a stage's types as they are and states the fit as a bound, so that a
// stage that does not fit is one error on that stage naming both types, and the types after
// it stay known: no follow-up errors (mismatched outputs, never-type fallback).

/// A stage input `Self` that accepts a value of type `Given`: only `Given` itself does.
#[diagnostic::on_unimplemented(
    message = "this stage takes `{Self}`, but its input is `{Given}`",
    label = "takes `{Self}`, not `{Given}`"
)]
pub trait Takes<Given> {
    /// The value as this stage's input.
    fn take(given: Given) -> Self;
}

impl<T> Takes<T> for T {
    fn take(given: T) -> T {
        given
    }
}

/// Never a stage's input nor output. More implementations of [`Takes`] keep rustc from
/// inferring one side's type from the other, which would turn a mismatch into an error on
/// the wrong type.
#[derive(Debug)]
pub struct NotAnInput<T>(T);

#[diagnostic::do_not_recommend]
impl<T> Takes<T> for NotAnInput<T> {
    fn take(given: T) -> Self {
        NotAnInput(given)
    }
}

// Both ways round: whichever of the two types rustc knows first, it cannot infer the other.
#[diagnostic::do_not_recommend]
impl<T> Takes<NotAnInput<T>> for T {
    fn take(given: NotAnInput<T>) -> T {
        given.0
    }
}

/// [`Flow::then`], with the fit of `next` to `first`'s output checked as a bound.
pub fn then_checked<In, Mid, Next, Out>(
    first: Flow<In, Mid>,
    next: Flow<Next, Out>,
) -> Flow<In, Out>
where
    Next: Takes<Mid>,
{
    first.then(Flow::from_plan(next.plan))
}

/// [`Flow::run`], with the fit of `value` to the flow's input checked as a bound.
pub fn run_checked<In, Given, Out>(flow: &Flow<In, Out>, value: Given) -> Result<Out>
where
    In: Takes<Given> + Serialize + 'static,
    Out: DeserializeOwned + 'static,
{
    flow.run(In::take(value))
}

// fork1..fork8 are written out, not generated by a macro: a branch that does not fit is
// reported with the bound of the function it was passed to, and rustc shows that function's
// source; a macro's body there would send users into blazer's internals.

/// [`fork`] of one flow (a `parallel[...]` of one branch).
pub fn fork1<In, A>(a: Flow<In, A>) -> Flow<In, (A,)> {
    fork((a,))
}

/// [`fork`] of 2 flows, the input of each after the first checked against the first's.
pub fn fork2<In, A, IB, B>(a: Flow<In, A>, b: Flow<IB, B>) -> Flow<In, (A, B)>
where
    IB: Takes<In>,
{
    fork((a, Flow::from_plan(b.plan)))
}

/// [`fork`] of 3 flows, the input of each after the first checked against the first's.
pub fn fork3<In, A, IB, B, IC, C>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
) -> Flow<In, (A, B, C)>
where
    IB: Takes<In>,
    IC: Takes<In>,
{
    fork((a, Flow::from_plan(b.plan), Flow::from_plan(c.plan)))
}

/// [`fork`] of 4 flows, the input of each after the first checked against the first's.
pub fn fork4<In, A, IB, B, IC, C, ID, D>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
    d: Flow<ID, D>,
) -> Flow<In, (A, B, C, D)>
where
    IB: Takes<In>,
    IC: Takes<In>,
    ID: Takes<In>,
{
    fork((
        a,
        Flow::from_plan(b.plan),
        Flow::from_plan(c.plan),
        Flow::from_plan(d.plan),
    ))
}

/// [`fork`] of 5 flows, the input of each after the first checked against the first's.
pub fn fork5<In, A, IB, B, IC, C, ID, D, IE, E>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
    d: Flow<ID, D>,
    e: Flow<IE, E>,
) -> Flow<In, (A, B, C, D, E)>
where
    IB: Takes<In>,
    IC: Takes<In>,
    ID: Takes<In>,
    IE: Takes<In>,
{
    fork((
        a,
        Flow::from_plan(b.plan),
        Flow::from_plan(c.plan),
        Flow::from_plan(d.plan),
        Flow::from_plan(e.plan),
    ))
}

/// [`fork`] of 6 flows, the input of each after the first checked against the first's.
pub fn fork6<In, A, IB, B, IC, C, ID, D, IE, E, IF, F>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
    d: Flow<ID, D>,
    e: Flow<IE, E>,
    f: Flow<IF, F>,
) -> Flow<In, (A, B, C, D, E, F)>
where
    IB: Takes<In>,
    IC: Takes<In>,
    ID: Takes<In>,
    IE: Takes<In>,
    IF: Takes<In>,
{
    fork((
        a,
        Flow::from_plan(b.plan),
        Flow::from_plan(c.plan),
        Flow::from_plan(d.plan),
        Flow::from_plan(e.plan),
        Flow::from_plan(f.plan),
    ))
}

/// [`fork`] of 7 flows, the input of each after the first checked against the first's.
#[allow(clippy::type_complexity)] // the tuple arities of `Branches`
pub fn fork7<In, A, IB, B, IC, C, ID, D, IE, E, IF, F, IG, G>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
    d: Flow<ID, D>,
    e: Flow<IE, E>,
    f: Flow<IF, F>,
    g: Flow<IG, G>,
) -> Flow<In, (A, B, C, D, E, F, G)>
where
    IB: Takes<In>,
    IC: Takes<In>,
    ID: Takes<In>,
    IE: Takes<In>,
    IF: Takes<In>,
    IG: Takes<In>,
{
    fork((
        a,
        Flow::from_plan(b.plan),
        Flow::from_plan(c.plan),
        Flow::from_plan(d.plan),
        Flow::from_plan(e.plan),
        Flow::from_plan(f.plan),
        Flow::from_plan(g.plan),
    ))
}

/// [`fork`] of 8 flows, the input of each after the first checked against the first's.
#[allow(clippy::type_complexity, clippy::too_many_arguments)] // the tuple arities of `Branches`
pub fn fork8<In, A, IB, B, IC, C, ID, D, IE, E, IF, F, IG, G, IH, H>(
    a: Flow<In, A>,
    b: Flow<IB, B>,
    c: Flow<IC, C>,
    d: Flow<ID, D>,
    e: Flow<IE, E>,
    f: Flow<IF, F>,
    g: Flow<IG, G>,
    h: Flow<IH, H>,
) -> Flow<In, (A, B, C, D, E, F, G, H)>
where
    IB: Takes<In>,
    IC: Takes<In>,
    ID: Takes<In>,
    IE: Takes<In>,
    IF: Takes<In>,
    IG: Takes<In>,
    IH: Takes<In>,
{
    fork((
        a,
        Flow::from_plan(b.plan),
        Flow::from_plan(c.plan),
        Flow::from_plan(d.plan),
        Flow::from_plan(e.plan),
        Flow::from_plan(f.plan),
        Flow::from_plan(g.plan),
        Flow::from_plan(h.plan),
    ))
}

/// The argument types of task `T` when a `blazer!` stage gives it `N` arguments. `N` is the
/// count `arity!` checked: when the check fails the count is an error, and so are these
/// types, so rustc reports the wrong count once, not again as a type error on the arguments.
pub trait Given<T: Task> {
    /// All arguments (see [`Task::Input`]).
    type Input;
    /// All but the last (see [`Task::Head`]).
    type Head;
}

impl<T: Task, const N: usize> Given<T> for [(); N] {
    type Input = T::Input;
    type Head = T::Head;
}

/// [`call`] of a `blazer!` stage that gives `N` arguments.
pub fn call_given<T: Task, const N: usize>(input: <[(); N] as Given<T>>::Input) -> Call<T::Output> {
    call::<T>(input)
}

/// [`partial`] of a `blazer!` stage that gives `N` arguments (the bound ones and the input).
pub fn partial_given<T: Task, const N: usize>(
    head: <[(); N] as Given<T>>::Head,
) -> Flow<T::Last, T::Output> {
    partial::<T>(head)
}

#[cfg(test)]
mod tests {
    //! Flows of real tasks, run in this process through the public API: a world of one runs
    //! every stage inline, through the same plans, joins and argument pieces as a worker.

    use super::*;
    use crate::api::primitives::{map, parallel, reduce};
    use crate::task::ArgSource;
    use crate::wire::payload::ArgsIn;
    use crate::wire::plan::Plan;
    use blazer_macros::task as blazer_task;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use std::fmt::Debug;

    #[blazer_task(crate = crate)]
    fn unit_then_pair(u: (), p: (u32, Vec<u32>)) -> (u32, Vec<u32>) {
        let () = u;
        p
    }

    #[blazer_task(crate = crate)]
    fn address_of(k: u32, v: Vec<f64>) -> (u32, usize) {
        (k, v.as_ptr() as usize)
    }

    #[blazer_task(crate = crate)]
    fn bytes_then_unit(v: Vec<u8>, u: ()) -> usize {
        let () = u;
        v.len()
    }

    #[test]
    fn a_unit_branch_beside_a_nested_fork_arrives_as_sent() {
        let flow = fork((
            constant::<(), _>(()),
            fork((constant(5u32), constant(vec![2u32, 7, 7]))),
        ))
        .then(task::<unit_then_pair>());
        assert_eq!(flow.run(()).unwrap(), (5, vec![2, 7, 7]));
    }

    /// A `Vec<f64>` beside a scalar comes to the task as the caller's own vector: the call
    /// holds exactly its two pieces, and the task takes them one by one.
    #[test]
    fn a_call_takes_its_vector_argument_over() {
        let v = vec![0.5f64; 1 << 14];
        let ptr = v.as_ptr() as usize;
        let out = parallel([call::<address_of>((3, v))]).unwrap();
        assert_eq!(
            out,
            [(3, ptr)],
            "the caller's vector, not a copy through serde"
        );
    }

    #[test]
    fn a_unit_last_argument_beside_a_vector() {
        let flow = fork((constant::<(), _>(vec![1u8; 70_000]), constant(())))
            .then(task::<bytes_then_unit>());
        assert_eq!(flow.run(()).unwrap(), 70_000);
        assert_eq!(partial::<bytes_then_unit>(vec![2u8; 3]).run(()).unwrap(), 3);
        let calls = [call::<bytes_then_unit>((vec![4u8; 5], ()))];
        assert_eq!(parallel(calls).unwrap(), [5]);
    }

    // The property: any flow shape delivers to a task of 1 to 8 arguments exactly the tuple
    // that was sent, by the path its shape calls for (piece by piece, or whole).

    /// An argument type, with the flows from `()` that produce a value of it.
    trait Arg: Serialize + DeserializeOwned + Clone + PartialEq + Debug + 'static {
        /// A flow that outputs `self`, as `how` picks: a constant, a task's output, a
        /// fully bound call, or (a tuple) a fork of its fields.
        fn branch(self, how: u8) -> Flow<(), Self>;
    }

    /// For each type: a task that outputs its argument, and the [`Arg`] flows through it.
    macro_rules! args_through {
        ($($t:ty => $id:ident),*) => {$(
            #[blazer_task(crate = crate)]
            fn $id(x: $t) -> $t {
                x
            }

            impl Arg for $t {
                fn branch(self, how: u8) -> Flow<(), $t> {
                    match how % 3 {
                        0 => constant(self),
                        1 => constant::<(), _>(self).then(task::<$id>()),
                        _ => call::<$id>(self),
                    }
                }
            }
        )*};
    }

    args_through!(
        u8 => same_u8, u32 => same_u32, i32 => same_i32, i64 => same_i64,
        String => same_string, Vec<f64> => same_f64s, Vec<u8> => same_bytes,
        Vec<i64> => same_i64s
    );

    #[blazer_task(crate = crate)]
    fn nothing() {}

    impl Arg for () {
        fn branch(self, how: u8) -> Flow<(), ()> {
            match how % 3 {
                0 => constant(()),
                1 => call::<nothing>(()),
                _ => task::<nothing>(),
            }
        }
    }

    impl<A: Arg, B: Arg> Arg for (A, B) {
        fn branch(self, how: u8) -> Flow<(), (A, B)> {
            match how % 3 {
                0 => constant(self),
                // A nested fork: its output is one piece of the fork around it.
                _ => fork((self.0.branch(how / 3), self.1.branch(how / 9))),
            }
        }
    }

    // Tasks of 1 to 8 arguments that output their arguments.
    #[blazer_task(crate = crate)]
    fn echo1(a: Vec<f64>) -> Vec<f64> {
        a
    }

    #[blazer_task(crate = crate)]
    fn echo2(a: (), b: (u32, Vec<u8>)) -> ((), (u32, Vec<u8>)) {
        (a, b)
    }

    #[blazer_task(crate = crate)]
    fn echo2v(a: u8, b: Vec<f64>) -> (u8, Vec<f64>) {
        (a, b)
    }

    #[blazer_task(crate = crate)]
    fn echo3(a: Vec<u8>, b: (), c: i64) -> (Vec<u8>, (), i64) {
        (a, b, c)
    }

    #[blazer_task(crate = crate)]
    fn echo4(a: (u32, Vec<u8>), b: Vec<i64>, c: (), d: String) -> Echo4 {
        (a, b, c, d)
    }
    type Echo4 = ((u32, Vec<u8>), Vec<i64>, (), String);

    #[blazer_task(crate = crate)]
    fn echo5(a: String, b: Vec<f64>, c: Vec<u8>, d: (Vec<f64>, ()), e: i32) -> Echo5 {
        (a, b, c, d, e)
    }
    type Echo5 = (String, Vec<f64>, Vec<u8>, (Vec<f64>, ()), i32);

    #[blazer_task(crate = crate)]
    fn echo6(a: (), b: (), c: Vec<i64>, d: u8, e: (u32, Vec<u8>), f: Vec<f64>) -> Echo6 {
        (a, b, c, d, e, f)
    }
    type Echo6 = ((), (), Vec<i64>, u8, (u32, Vec<u8>), Vec<f64>);

    #[blazer_task(crate = crate)]
    #[allow(clippy::too_many_arguments)]
    fn echo7(
        a: i64,
        b: Vec<u8>,
        c: (),
        d: Vec<f64>,
        e: String,
        f: Vec<i64>,
        g: (Vec<f64>, ()),
    ) -> Echo7 {
        (a, b, c, d, e, f, g)
    }
    type Echo7 = (i64, Vec<u8>, (), Vec<f64>, String, Vec<i64>, (Vec<f64>, ()));

    #[blazer_task(crate = crate)]
    #[allow(clippy::too_many_arguments)]
    fn echo8(
        a: u8,
        b: Vec<f64>,
        c: (),
        d: Vec<u8>,
        e: Vec<i64>,
        f: i32,
        g: (),
        h: (u32, Vec<u8>),
    ) -> Echo8 {
        (a, b, c, d, e, f, g, h)
    }
    type Echo8 = (u8, Vec<f64>, (), Vec<u8>, Vec<i64>, i32, (), (u32, Vec<u8>));

    /// Lengths past a part's minimum for elements of `elem` bytes.
    fn long(elem: usize) -> std::ops::Range<usize> {
        let n = crate::wire::payload::PART_MIN.div_ceil(elem);
        n..n + 40
    }

    /// Short vectors mostly, a long one (an out-of-line part) now and then.
    fn f64s() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            4 => vec(any::<i32>().prop_map(f64::from), 0..6),
            1 => (long(8), any::<i16>())
                .prop_map(|(n, s)| (0..n).map(|i| f64::from(s) + i as f64).collect()),
        ]
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => vec(any::<u8>(), 0..6),
            1 => (long(1), any::<u8>())
                .prop_map(|(n, s)| (0..n).map(|i| s.wrapping_add(i as u8)).collect()),
        ]
    }

    fn i64s() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            4 => vec(any::<i64>(), 0..6),
            1 => (long(8), any::<i64>())
                .prop_map(|(n, s)| (0..n as i64).map(|i| s.wrapping_mul(i)).collect()),
        ]
    }

    /// What task `stage` (a task, called or partially applied) is given on `input`, as the
    /// worker puts it together (`exec.rs`): its bound arguments, then the input.
    fn given<In, Out>(stage: &Flow<In, Out>, input: Payload) -> Payload {
        match stage.plan().expect("a plan") {
            Plan::Task { bound, .. } if bound.is_empty() => input,
            Plan::Task { bound, .. } => bound.clone().then(input),
            other => panic!("not a task stage: {other:?}"),
        }
    }

    /// Whether `T` takes its arguments from `payload` one by one (not as one value), and
    /// what it gets.
    fn split_by<T: Task>(payload: Payload) -> (bool, Result<T::Input, String>) {
        struct Watch(ArgsIn, bool);
        impl ArgSource for Watch {
            fn pieces(&self) -> usize {
                self.0.pieces()
            }
            fn arg<A: DeserializeOwned + 'static>(&mut self) -> std::result::Result<A, String> {
                self.0.arg()
            }
            fn whole<V: DeserializeOwned + 'static>(&mut self) -> std::result::Result<V, String> {
                self.1 = true;
                self.0.whole()
            }
        }
        let mut watch = Watch(ArgsIn::new(payload), false);
        let got = T::join_input(&mut watch);
        (!watch.1, got)
    }

    /// Asserts that `T` gets `input` from `payload` by the path of the shape: one by one when
    /// it takes several arguments and `pieces` says the shape keeps them apart.
    fn assert_given<T: Task>(payload: Payload, input: &T::Input, pieces: bool, shape: &str)
    where
        T::Input: PartialEq + Debug,
    {
        let (split, got) = split_by::<T>(payload);
        assert_eq!(got.as_ref(), Ok(input), "{shape}");
        assert_eq!(split, pieces && T::ARITY >= 2, "{shape}: the path taken");
    }

    /// `head!(a, b)`: the bound arguments of a partial application (`()`, `a` or a tuple).
    macro_rules! head {
        () => { () };
        ($one:expr) => { $one };
        ($($many:expr),+) => { ($($many),+) };
    }

    /// One property test per task: every shape, on generated arguments.
    macro_rules! flow_shapes {
        ($name:ident, $task:ident, [$($h:ident in $hs:expr),*], $l:ident in $ls:expr) => {
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(16))]
                #[test]
                fn $name($($h in $hs,)* $l in $ls, hows in vec(any::<u8>(), 10)) {
                    let input: <$task as Task>::Input = head!($($h.clone(),)* $l.clone());
                    let mut hows = hows.into_iter();
                    let mut how = move || hows.next().unwrap();
                    let echo = task::<$task>();

                    // The arguments given to the task's flow, one by one.
                    let sent = echo.encode_input(input.clone()).unwrap();
                    assert_given::<$task>(given(&echo, sent), &input, true, "run");
                    prop_assert_eq!(&echo.run(input.clone()).unwrap(), &input);

                    // A fully bound call, and its `()` input.
                    let ready = call::<$task>(input.clone());
                    assert_given::<$task>(given(&ready, Payload::default()), &input, true, "call");
                    prop_assert_eq!(parallel([ready]).unwrap(), vec![input.clone()]);

                    // A partial application, run on the last argument.
                    let part = partial::<$task>(head!($($h.clone()),*));
                    let last = Payload::encode_owned($l.clone()).unwrap();
                    assert_given::<$task>(given(&part, last), &input, true, "partial");
                    prop_assert_eq!(&part.run($l.clone()).unwrap(), &input);

                    // One flow per argument, forked (nested forks inside), fed to the task.
                    let branches = flow_shapes!(@fork how, $($h,)* $l);
                    let out = dispatch::drive(branches.plan().unwrap(), Payload::default()).unwrap();
                    assert_given::<$task>(given(&echo, out), &input, true, "fork");
                    prop_assert_eq!(&branches.then(task::<$task>()).run(()).unwrap(), &input);

                    // The last argument from a flow, into a partial application.
                    let into_part = $l.clone().branch(how()).then(part.clone());
                    prop_assert_eq!(&into_part.run(()).unwrap(), &input);

                    // The tuple as one value: the task reads it whole.
                    let whole = Payload::encode(&input).unwrap();
                    assert_given::<$task>(given(&echo, whole), &input, false, "whole");
                    let constant_fed = constant::<(), _>(input.clone()).then(task::<$task>());
                    prop_assert_eq!(&constant_fed.run(()).unwrap(), &input);

                    // Many inputs, mapped.
                    let mapped = map(task::<$task>(), [input.clone(), input.clone()]).unwrap();
                    prop_assert_eq!(&mapped, &[input.clone(), input.clone()]);
                }
            }
        };
        (@fork $how:ident, $one:ident) => { $one.clone().branch($how()) };
        (@fork $how:ident, $($arg:ident),+) => { fork(($($arg.clone().branch($how()),)+)) };
    }

    flow_shapes!(flow_shapes_one_argument, echo1, [], a in f64s());
    flow_shapes!(flow_shapes_unit_and_nested, echo2, [a in Just(())], b in (any::<u32>(), bytes()));
    flow_shapes!(flow_shapes_scalar_and_vector, echo2v, [a in any::<u8>()], b in f64s());
    flow_shapes!(
        flow_shapes_three_arguments,
        echo3,
        [a in bytes(), b in Just(())],
        c in any::<i64>()
    );
    flow_shapes!(
        flow_shapes_four_arguments,
        echo4,
        [a in (any::<u32>(), bytes()), b in i64s(), c in Just(())],
        d in "[a-z]{0,5}"
    );
    flow_shapes!(
        flow_shapes_five_arguments,
        echo5,
        [a in "[a-z]{0,5}", b in f64s(), c in bytes(), d in (f64s(), Just(()))],
        e in any::<i32>()
    );
    flow_shapes!(
        flow_shapes_six_arguments,
        echo6,
        [a in Just(()), b in Just(()), c in i64s(), d in any::<u8>(), e in (any::<u32>(), bytes())],
        f in f64s()
    );
    flow_shapes!(
        flow_shapes_seven_arguments,
        echo7,
        [a in any::<i64>(), b in bytes(), c in Just(()), d in f64s(), e in "[a-z]{0,5}",
         f in i64s()],
        g in (f64s(), Just(()))
    );
    flow_shapes!(
        flow_shapes_eight_arguments,
        echo8,
        [a in any::<u8>(), b in f64s(), c in Just(()), d in bytes(), e in i64s(),
         f in any::<i32>(), g in Just(())],
        h in (any::<u32>(), bytes())
    );

    #[blazer_task(crate = crate)]
    fn pair_sum(a: (u32, Vec<u8>), b: (u32, Vec<u8>)) -> (u32, Vec<u8>) {
        (a.0.wrapping_add(b.0), [a.1, b.1].concat())
    }

    #[blazer_task(crate = crate)]
    fn first_sum(a: (u32, Vec<u8>), b: (u32, Vec<u8>)) -> u32 {
        a.0.wrapping_add(b.0)
    }

    #[blazer_task(crate = crate)]
    fn second_concat(a: (u32, Vec<u8>), b: (u32, Vec<u8>)) -> Vec<u8> {
        [a.1, b.1].concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// A fold of two arguments side by side: the accumulator a task's output, or a
        /// fork's (one argument, whatever pieces it was made of).
        #[test]
        fn reduce_folds_task_and_fork_outputs(items in vec((any::<u32>(), bytes()), 1..5)) {
            let expected = items
                .iter()
                .cloned()
                .reduce(|a, b| (a.0.wrapping_add(b.0), [a.1, b.1].concat()))
                .unwrap();
            prop_assert_eq!(&reduce(task::<pair_sum>(), items.clone()).unwrap(), &expected);
            let forked = fork((task::<first_sum>(), task::<second_concat>()));
            prop_assert_eq!(&reduce(forked, items).unwrap(), &expected);
        }
    }
}
