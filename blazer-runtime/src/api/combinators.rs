//! `where`, `select` and `filter`: local combinators in the pipe style of the original,
//! used to build lists of calls before running them.
//!
//! ```
//! use blazer_runtime::{pipe, r#where, select};
//! let doubled: Vec<i32> = (pipe(vec![1, 2, 3]) | r#where(|x: &i32| *x > 1) | select(|x| x * 2)).collect();
//! assert_eq!(doubled, vec![4, 6]);
//! // A Vec starts a pipe by itself.
//! let kept: Vec<i32> = (vec![1, 2, 3] | r#where(|x: &i32| *x != 2)).collect();
//! assert_eq!(kept, vec![1, 3]);
//! ```

use std::iter::{Filter, Map};
use std::ops::BitOr;

/// An iterator that composes with `|`. Create one with [`pipe`]; it is an ordinary iterator.
#[derive(Debug, Clone)]
pub struct Pipe<I>(I);

/// Starts a pipe over anything iterable.
pub fn pipe<I: IntoIterator>(items: I) -> Pipe<I::IntoIter> {
    Pipe(items.into_iter())
}

impl<I: Iterator> Iterator for Pipe<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Keeps the items for which the predicate holds (`pipe | r#where(pred)`).
#[derive(Debug, Clone)]
pub struct Where<P>(P);

/// Keeps the items for which `predicate` holds. Named after the original's `where`, a Rust
/// keyword, hence the `r#`.
pub fn r#where<P>(predicate: P) -> Where<P> {
    Where(predicate)
}

/// Maps every item (`pipe | select(f)`).
#[derive(Debug, Clone)]
pub struct Select<F>(F);

/// Maps every item through `f`.
pub fn select<F>(f: F) -> Select<F> {
    Select(f)
}

impl<I: Iterator, P: FnMut(&I::Item) -> bool> BitOr<Where<P>> for Pipe<I> {
    type Output = Pipe<Filter<I, P>>;
    fn bitor(self, w: Where<P>) -> Self::Output {
        Pipe(self.0.filter(w.0))
    }
}

impl<I: Iterator, B, F: FnMut(I::Item) -> B> BitOr<Select<F>> for Pipe<I> {
    type Output = Pipe<Map<I, F>>;
    fn bitor(self, s: Select<F>) -> Self::Output {
        Pipe(self.0.map(s.0))
    }
}

impl<T, P: FnMut(&T) -> bool> BitOr<Where<P>> for Vec<T> {
    type Output = Pipe<Filter<std::vec::IntoIter<T>, P>>;
    fn bitor(self, w: Where<P>) -> Self::Output {
        pipe(self) | w
    }
}

impl<T, B, F: FnMut(T) -> B> BitOr<Select<F>> for Vec<T> {
    type Output = Pipe<Map<std::vec::IntoIter<T>, F>>;
    fn bitor(self, s: Select<F>) -> Self::Output {
        pipe(self) | s
    }
}

/// Eagerly keeps the items of `items` for which `predicate` holds (the original's `filter`).
///
/// ```
/// assert_eq!(blazer_runtime::filter(1..=6, |x| x % 2 == 0), vec![2, 4, 6]);
/// ```
pub fn filter<T>(
    items: impl IntoIterator<Item = T>,
    mut predicate: impl FnMut(&T) -> bool,
) -> Vec<T> {
    items.into_iter().filter(|x| predicate(x)).collect()
}
