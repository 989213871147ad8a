//! Composition of remote jobs and local work: [`Stage`], chained with [`Stage::then`], run
//! with [`run_stages`] or side by side with [`fork_stages`].
//!
//! Local stages (blazer [`Flow`]s and [`local`] closures) always run on the calling thread,
//! because MPI belongs to the driver's main thread; remote jobs are only polled, so many can
//! be in flight while local work runs.

use crate::error::{ClusterError, Result};
use blazer_runtime::Flow;
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;
use std::time::Duration;

/// A computation started now and finished by polling: a submitted job, a chain, a fan-out.
pub trait Pending<T> {
    /// Makes progress without blocking on remote work: `Ok(Some(value))` once done. Local
    /// stages run to completion inside `poll`, on the calling thread.
    fn poll(&mut self) -> Result<Option<T>>;

    /// Gives up: cancels remote work still running. The default does nothing.
    fn cancel(&mut self) {}
}

/// How long [`finish`] sleeps between polls; jobs throttle their own batch-system queries.
const TICK: Duration = Duration::from_millis(50);

/// Polls `pending` until it is done.
pub fn finish<T>(pending: &mut (impl Pending<T> + ?Sized)) -> Result<T> {
    loop {
        if let Some(v) = pending.poll()? {
            return Ok(v);
        }
        std::thread::sleep(TICK);
    }
}

/// One step of a cross-cluster computation, from `In` to `Out`: a remote [`crate::Job`], a
/// blazer [`Flow`], a [`local`] function, or a composition of those.
pub trait Stage {
    /// What the stage takes.
    type In;
    /// What it produces.
    type Out;

    /// Starts the stage on `input`: a job is submitted at once; local work waits for the
    /// first poll.
    fn start<'a>(&'a self, input: Self::In) -> Result<Box<dyn Pending<Self::Out> + 'a>>;

    /// Runs the stage to the end on `input`.
    fn run(&self, input: Self::In) -> Result<Self::Out> {
        finish(&mut *self.start(input)?)
    }

    /// Feeds this stage's output into `next`. (A blazer [`Flow`] has its own `then` for
    /// flows; wrap it in [`stage`] to chain it with jobs.)
    fn then<B: Stage<In = Self::Out>>(self, next: B) -> Then<Self, B>
    where
        Self: Sized,
    {
        Then { first: self, next }
    }

    /// This stage as a trait object, to mix kinds of stages in one [`fork_stages`].
    fn boxed<'s>(self) -> Box<dyn Stage<In = Self::In, Out = Self::Out> + 's>
    where
        Self: Sized + 's,
    {
        Box::new(self)
    }
}

impl<S: Stage + ?Sized> Stage for Box<S> {
    type In = S::In;
    type Out = S::Out;
    fn start<'a>(&'a self, input: S::In) -> Result<Box<dyn Pending<S::Out> + 'a>> {
        (**self).start(input)
    }
}

/// A blazer flow runs on the caller's thread through [`Flow::run`], so its tasks spread over
/// the MPI workers as usual.
impl<In: Serialize + 'static, Out: DeserializeOwned + 'static> Stage for Flow<In, Out> {
    type In = In;
    type Out = Out;
    fn start<'a>(&'a self, input: In) -> Result<Box<dyn Pending<Out> + 'a>> {
        Ok(Box::new(Deferred {
            input: Some(input),
            work: move |x| Ok(self.run(x)?),
        }))
    }
}

/// A blazer flow as a [`Stage`] value. Needed only to call [`Stage::then`] on a flow, because
/// [`Flow`]'s own `then` takes flows only.
pub fn stage<In: Serialize + 'static, Out: DeserializeOwned + 'static>(
    flow: Flow<In, Out>,
) -> FlowStage<In, Out> {
    FlowStage(flow)
}

/// A blazer [`Flow`] wrapped by [`stage`].
#[derive(Debug, Clone)]
pub struct FlowStage<In, Out>(pub Flow<In, Out>);

impl<In: Serialize + 'static, Out: DeserializeOwned + 'static> Stage for FlowStage<In, Out> {
    type In = In;
    type Out = Out;
    fn start<'a>(&'a self, input: In) -> Result<Box<dyn Pending<Out> + 'a>> {
        self.0.start(input)
    }
}

/// A local function as a [`Stage`]; build it with [`local`] or [`try_local`].
pub struct Local<F, In, Out> {
    f: F,
    types: PhantomData<fn(In) -> Out>,
}

/// `f` as a stage that runs on the calling thread.
pub fn local<In, Out, F: Fn(In) -> Out>(f: F) -> Local<impl Fn(In) -> Result<Out>, In, Out> {
    try_local(move |x| Ok(f(x)))
}

/// A fallible `f` as a stage that runs on the calling thread; its error ends the pipeline.
pub fn try_local<In, Out, F: Fn(In) -> Result<Out>>(f: F) -> Local<F, In, Out> {
    Local {
        f,
        types: PhantomData,
    }
}

impl<F, In, Out> std::fmt::Debug for Local<F, In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Local")
    }
}

impl<F: Fn(In) -> Result<Out>, In, Out> Stage for Local<F, In, Out> {
    type In = In;
    type Out = Out;
    fn start<'a>(&'a self, input: In) -> Result<Box<dyn Pending<Out> + 'a>> {
        Ok(Box::new(Deferred {
            input: Some(input),
            work: &self.f,
        }))
    }
}

/// Local work deferred to the first poll, so that in a [`fork_stages`] every job is submitted
/// before any local stage starts; it then runs on the polling (calling) thread.
struct Deferred<In, W> {
    input: Option<In>,
    work: W,
}

impl<In, Out, W: Fn(In) -> Result<Out>> Pending<Out> for Deferred<In, W> {
    fn poll(&mut self) -> Result<Option<Out>> {
        let input = self.input.take().ok_or_else(|| {
            ClusterError::Usage("a local stage was polled after it finished".into())
        })?;
        (self.work)(input).map(Some)
    }
}

/// A stage that outputs `value` whatever its input: the head of a [`run_stages`].
pub fn value<In, T: Clone>(value: T) -> Local<impl Fn(In) -> Result<T>, In, T> {
    try_local(move |_| Ok(value.clone()))
}

/// Two stages in sequence; built by [`Stage::then`].
#[derive(Debug)]
pub struct Then<A, B> {
    first: A,
    next: B,
}

enum ThenPending<'a, Mid, Out> {
    First(Box<dyn Pending<Mid> + 'a>),
    Next(Box<dyn Pending<Out> + 'a>),
}

struct ThenState<'a, B: Stage> {
    next: &'a B,
    at: ThenPending<'a, B::In, B::Out>,
}

impl<'a, B: Stage> Pending<B::Out> for ThenState<'a, B> {
    fn poll(&mut self) -> Result<Option<B::Out>> {
        if let ThenPending::First(p) = &mut self.at {
            match p.poll()? {
                // Start the next stage right away: a local one runs in the poll below.
                Some(mid) => self.at = ThenPending::Next(self.next.start(mid)?),
                None => return Ok(None),
            }
        }
        match &mut self.at {
            ThenPending::Next(p) => p.poll(),
            ThenPending::First(_) => Ok(None),
        }
    }

    fn cancel(&mut self) {
        match &mut self.at {
            ThenPending::First(p) => p.cancel(),
            ThenPending::Next(p) => p.cancel(),
        }
    }
}

impl<A: Stage, B: Stage<In = A::Out>> Stage for Then<A, B> {
    type In = A::In;
    type Out = B::Out;
    fn start<'a>(&'a self, input: A::In) -> Result<Box<dyn Pending<B::Out> + 'a>> {
        Ok(Box::new(ThenState {
            next: &self.next,
            at: ThenPending::First(self.first.start(input)?),
        }))
    }
}

/// Branches that all take a copy of the same input and run side by side; built by
/// [`fork_stages`].
#[derive(Debug)]
pub struct ForkStages<S> {
    branches: Vec<S>,
}

/// A stage that feeds its input to every branch and returns their outputs in order.
///
/// Every job of every branch is submitted first; then the branches are polled together, and
/// local stages run on the calling thread as their turn comes, while the jobs run remotely.
/// When one branch fails, the jobs still running are cancelled and its error is returned.
/// Mix kinds of stages with [`Stage::boxed`].
pub fn fork_stages<S: Stage>(branches: Vec<S>) -> ForkStages<S>
where
    S::In: Clone,
{
    ForkStages { branches }
}

struct ForkState<'a, T> {
    branches: Vec<Box<dyn Pending<T> + 'a>>,
    done: Vec<Option<T>>,
}

impl<T> Pending<Vec<T>> for ForkState<'_, T> {
    fn poll(&mut self) -> Result<Option<Vec<T>>> {
        for i in 0..self.branches.len() {
            if self.done[i].is_some() {
                continue;
            }
            match self.branches[i].poll() {
                Ok(Some(v)) => self.done[i] = Some(v),
                Ok(None) => {}
                Err(e) => {
                    self.cancel();
                    return Err(e);
                }
            }
        }
        if self.done.iter().all(Option::is_some) {
            Ok(Some(
                self.done
                    .iter_mut()
                    .map(|d| d.take().expect("done"))
                    .collect(),
            ))
        } else {
            Ok(None)
        }
    }

    fn cancel(&mut self) {
        for (p, d) in self.branches.iter_mut().zip(&self.done) {
            if d.is_none() {
                p.cancel();
            }
        }
    }
}

impl<S: Stage> Stage for ForkStages<S>
where
    S::In: Clone,
{
    type In = S::In;
    type Out = Vec<S::Out>;
    fn start<'a>(&'a self, input: S::In) -> Result<Box<dyn Pending<Vec<S::Out>> + 'a>> {
        let mut started: Vec<Box<dyn Pending<S::Out> + 'a>> = Vec::new();
        for b in &self.branches {
            match b.start(input.clone()) {
                Ok(p) => started.push(p),
                Err(e) => {
                    started.iter_mut().for_each(|p| p.cancel());
                    return Err(e);
                }
            }
        }
        let done = started.iter().map(|_| None).collect();
        Ok(Box::new(ForkState {
            branches: started,
            done,
        }))
    }
}

/// Runs a chain whose first stage needs no input (a blazer [`blazer_runtime::call`], a
/// [`value`], a job taking `()`), and returns the last stage's output.
pub fn run_stages<S: Stage<In = ()>>(stages: S) -> Result<S::Out> {
    stages.run(())
}
