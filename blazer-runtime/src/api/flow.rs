//! [`Flow`]: a typed computation built from tasks, checked by the compiler stage by stage.

use crate::driver::dispatch;
use crate::error::Result;
use crate::task::Task;
use crate::wire::codec::{decode_value, encode};
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
    types: PhantomData<fn(In) -> Out>,
}

/// A flow that needs no input: a task with all its arguments bound.
pub type Call<Out> = Flow<(), Out>;

impl<In, Out> Clone for Flow<In, Out> {
    fn clone(&self) -> Self {
        Flow {
            plan: self.plan.clone(),
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
            types: PhantomData,
        }
    }

    /// Feeds this flow's output into `next`. A `next` that takes another type than `Out`
    /// is a compile error naming both types.
    pub fn then<Next>(self, next: Flow<Out, Next>) -> Flow<In, Next> {
        Flow::from_plan(self.plan.and_then(|a| next.plan.map(|b| a.then(b))))
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
        In: Serialize,
        Out: DeserializeOwned,
    {
        let bytes = encode(&input)?;
        let out = dispatch::drive(self.plan()?, bytes)?;
        decode_value(&out)
    }
}

/// The task `T` as a flow from its arguments to its output.
pub fn task<T: Task>() -> Flow<T::Input, T::Output> {
    Flow::from_plan(Ok(Plan::Task {
        id: T::ID,
        bound: Vec::new(),
    }))
}

/// Partial application: `T` with every argument but the last bound to `head`. The last
/// argument comes from the stage before (or from [`Flow::run`]).
///
/// For a task `fn scale(factor: f64, x: f64) -> f64`, `partial::<scale>(2.0)` is a
/// `Flow<f64, f64>`; with three or more arguments, `head` is a tuple.
pub fn partial<T: Task>(head: T::Head) -> Flow<T::Last, T::Output> {
    Flow::from_plan(encode(&head).map(|bound| Plan::Task { id: T::ID, bound }))
}

/// `T` with all its arguments bound: a ready call for [`crate::parallel`] or the first
/// stage of a [`crate::pipeline`].
pub fn call<T: Task>(input: T::Input) -> Call<T::Output> {
    Flow::from_plan(encode(&input).map(|bound| Plan::Task { id: T::ID, bound }))
}

/// A stage that ignores its input and outputs `value` (the original's data-as-a-stage, made
/// explicit).
pub fn constant<In, T: Serialize>(value: T) -> Flow<In, T> {
    Flow::from_plan(encode(&value).map(Plan::Const))
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
