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
        encode: Some(encode_args::<T>),
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
    let bound = T::split_head(head, &mut pieces)
        .map_err(Error::Encode)
        .map(|()| pieces.into_payload());
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
