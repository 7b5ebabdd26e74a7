//! Lazy sequences whose nodes are promises (Lwt's `Lwt_seq`).
//!
//! A [`Seq<T>`] is a suspended computation: [`force`](Seq::force) it to get a promise of its
//! first [`Node`], either [`Node::Nil`] or [`Node::Cons`] of an element and the rest of the
//! sequence. Nothing runs before a node is forced, so sequences can be endless, and each element
//! can take time to produce (a page of a paginated API, a line of a file...).
//!
//! ```
//! use lwt_core::{seq, Promise, State};
//!
//! let squares = seq::unfold(1_u32, |n| Some((n * n, n + 1))); // endless
//! let odd = squares.map_s(|x| Promise::ret(x + 1)).filter(|x| x % 2 == 1);
//! let odd = odd.flat_map(|x| seq::of_list(vec![x, 0]));
//! let first = odd.force().map(|node| match node {
//!     seq::Node::Cons(x, _) => x,
//!     seq::Node::Nil => 0,
//! });
//! assert_eq!(first.state(), State::Fulfilled(5)); // 2*2 + 1
//!
//! let evens = seq::of_list(vec![1, 2, 3, 4]).filter(|x| x % 2 == 0).to_list();
//! assert_eq!(evens.state(), State::Fulfilled(vec![2, 4]));
//! ```
//!
//! # Lwt → here
//!
//! | Lwt_seq | here |
//! |---|---|
//! | `'a t`, `'a node` (`Nil`, `Cons`) | [`Seq<T>`], [`Node<T>`] |
//! | `empty`, `return`, `return_lwt`, `cons`, `cons_lwt` | [`empty`], [`ret`], [`ret_lwt`], [`cons`], [`cons_lwt`] |
//! | `append`, `map`, `map_s`, `filter`, `filter_s`, `filter_map`, `filter_map_s`, `flat_map` | methods of the same names |
//! | `fold_left`, `fold_left_s`, `iter`, `iter_s`, `iter_p`, `iter_n`, `to_list` | methods of the same names |
//! | `unfold`, `unfold_lwt` | [`unfold`], [`unfold_lwt`] (Rust's argument order: the seed first) |
//! | `of_list`, `of_seq`, `of_seq_lwt` | [`of_list`], [`of_iter`], [`of_promises`] |
//! | (forcing: `s ()`) | [`Seq::force`], [`Seq::new`] |
//!
//! # Differences from Lwt
//!
//! * **A sequence is used once.** Lwt's `'a t` is a function that can be called again to
//!   traverse the sequence again; here forcing consumes the `Seq` (as iterating consumes a Rust
//!   iterator), so elements need not be `Clone` and a one-shot source (a socket) is honest about
//!   it. Rebuild the sequence to traverse it again.
//! * **Stack-safe and constant-memory.** `filter`, `filter_map` and `flat_map` skip any number of
//!   dropped elements in a loop; the consumers (`fold_left`, `iter_s`, `iter_p`...) loop while
//!   nodes and callback promises are already resolved. `iter_p` keeps no list of promises (Lwt's
//!   does): one observer and one cancel link (in a reused slot) per callback promise still
//!   pending, nothing for resolved ones. Dropping a sequence built of any number of `cons`,
//!   `cons_lwt` and `append` (forced or not, or held in the resolved promise of a node) is a
//!   loop too, and so is forcing appends nested either way. The other sequences are closures:
//!   one that holds a sequence (a transformer's, or [`Seq::new`]'s) is dropped, and forced, one
//!   native frame per closure nested in it, so nesting transformers a million deep
//!   (`s.map(f).map(f)...`) overflows the stack. Mapping once over a long sequence is flat.
//! * `iter_p` and `iter_n` stop forcing at the first rejected callback or node, and reject with
//!   the first rejection in sequence order (a rejected node counts at the place of the element
//!   it would have given) once the callbacks already running are done, so that no rejection goes
//!   unobserved; a running callback that never resolves keeps the result pending, as it would
//!   after the sequence's end. Lwt calls the callback on the rest of the sequence after a
//!   callback's rejection and reports the first rejection in time; after a node's rejection, and
//!   in `iter_n` after a callback's, it rejects at once, leaving the running callbacks
//!   unobserved. A node being forced at that moment is the user's promise: it is not canceled,
//!   and its element is ignored.
//! * `iter_n(0, f)` is a rejected promise ([`InvalidArgument`](crate::InvalidArgument)), as every
//!   bad argument here is, where Lwt's `iter_n ~max_concurrency:0` raises at once.
//! * Canceling the result of `iter_p` or `iter_n` rejects it with `Canceled` and cancels what it
//!   waits on: the node being forced and the running callbacks. This is done before `cancel`
//!   returns, wherever the cancel is made: from inside `f` or the forcing of a node too, no node
//!   is forced and `f` is not called after it, and a callback promise that `f` returns after
//!   canceling the result is canceled as it comes back. (Lwt's `iter_p` and `iter_n` are chains
//!   of binds: canceled, they cancel only what the chain waits on at that moment, the node being
//!   forced if it is cancelable, or the running callbacks once `iter_n` is full or `iter_p` has
//!   reached the end; canceled from inside `f`, they do nothing at all, the chain waiting then
//!   on the node just forced, and go on to the end.)
//! * A panic while forcing a node or in a callback rejects the promise with
//!   [`Panicked`](crate::Panicked) (Lwt's `Lwt.apply`).

use std::cell::RefCell;
use std::fmt;
use std::ops::ControlFlow::Continue;
use std::rc::Rc;

use crate::exn::Exn;
use crate::promise::Promise;
use crate::stream::drive::{call, drive, guard, more, par, settle, stop, Source};

/// A lazy sequence of `T`s (Lwt's `'a Lwt_seq.t`): forcing it gives a promise of its first node.
///
/// ```
/// use lwt_core::{seq::{self, Node}, State};
///
/// let s = seq::cons(1, seq::empty());
/// let first = s.force().map(|node| match node {
///     Node::Cons(x, _rest) => Some(x),
///     Node::Nil => None,
/// });
/// assert_eq!(first.state(), State::Fulfilled(Some(1)));
/// ```
#[must_use = "sequences are lazy: a `Seq` does nothing unless it is forced or read"]
pub struct Seq<T: 'static>(Repr<T>);

/// What a [`Seq`] is. The constructors that hold the rest of a sequence (`cons`, `cons_lwt`,
/// `append`) are data, so that dropping a long chain of them unlinks it in a loop ([`Links`]'
/// `Drop`); every other sequence is a closure. A `Seq` is two words long, as a boxed closure is
/// (a word more in every `Seq` and `Node` slows forcing down).
enum Repr<T: 'static> {
    /// [`Seq::new`], and the other constructors and transformers: forcing calls the closure.
    Lazy(Box<dyn FnOnce() -> Promise<Node<T>>>),
    /// [`empty`], `cons`, `cons_lwt` or `append`.
    Linked(Links<T>),
}

/// A sequence held as data: `None` is [`empty`].
struct Links<T: 'static>(Option<Box<Link<T>>>);

/// The sequences that hold the rest of a sequence as data.
enum Link<T: 'static> {
    /// [`cons`]: an element and the rest.
    Cons(T, Seq<T>),
    /// [`cons_lwt`]: a promise of an element and the rest.
    ConsLwt(Promise<T>, Seq<T>),
    /// [`Seq::append`]: a sequence, then another.
    Append(Seq<T>, Seq<T>),
}

impl<T: 'static> Seq<T> {
    fn link(link: Link<T>) -> Seq<T> {
        Seq(Repr::Linked(Links(Some(Box::new(link)))))
    }

    /// The sequence, leaving an empty one in its place.
    fn take(&mut self) -> Seq<T> {
        std::mem::replace(self, empty())
    }

    /// The first link of a sequence held as data, leaving an empty sequence in its place.
    fn take_link(&mut self) -> Option<Box<Link<T>>> {
        match &mut self.0 {
            Repr::Linked(links) => links.0.take(),
            Repr::Lazy(_) => None,
        }
    }
}

/// Drops a chain of `cons`, `cons_lwt` and `append` in a loop: the compiler's drop glue would
/// recurse once per link, and a million of them overflow the stack. A closure that holds a
/// sequence (a transformer's, or [`Seq::new`]'s) is dropped by the glue, one native frame per
/// closure nested in another: see the [module docs](self).
impl<T: 'static> Drop for Links<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(link) = self.0.take() {
            drop_links(link);
        }
    }
}

/// In the order the drop glue would go: an element before the rest, the first part of an
/// `append` (all of it) before the second.
#[inline(never)]
fn drop_links<T: 'static>(link: Box<Link<T>>) {
    // The second parts of the `append`s met, innermost last; allocates only when one is met.
    let mut tails: Vec<Seq<T>> = Vec::new();
    let mut next = Some(link);
    loop {
        let mut link = match next.take() {
            Some(link) => link,
            None => match tails.pop() {
                None => return,
                Some(mut tail) => match tail.take_link() {
                    Some(link) => link,
                    None => continue, // a closure (or empty): `tail` is dropped here
                },
            },
        };
        next = match &mut *link {
            Link::Cons(_, rest) | Link::ConsLwt(_, rest) => rest.take_link(),
            Link::Append(first, second) => {
                tails.push(second.take());
                first.take_link()
            }
        };
        // `link` is dropped here, its links cut: its element or promise, then a rest or first
        // part that is a closure.
    }
}

/// A forced node of a [`Seq`] (Lwt's `'a Lwt_seq.node`).
///
/// ```
/// use lwt_core::seq::{self, Node};
/// let node: Node<u8> = Node::Cons(1, seq::empty());
/// assert!(matches!(node, Node::Cons(1, _)));
/// ```
pub enum Node<T: 'static> {
    /// The end of the sequence.
    Nil,
    /// An element, and the rest of the sequence.
    Cons(T, Seq<T>),
}

impl<T: 'static> fmt::Debug for Seq<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seq(<suspended>)")
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Nil => f.write_str("Nil"),
            Node::Cons(x, rest) => f.debug_tuple("Cons").field(x).field(rest).finish(),
        }
    }
}

/// Forces a sequence node by node, for the drivers. The rest is held as a `Seq`, not an
/// `Option<Seq>` (which is a word longer); while a node is being forced, and after the end, it is
/// [`empty`].
pub(crate) struct SeqSource<T: 'static>(Rc<RefCell<Seq<T>>>);

impl<T: 'static> SeqSource<T> {
    pub(crate) fn new(seq: Seq<T>) -> SeqSource<T> {
        SeqSource(Rc::new(RefCell::new(seq)))
    }
}

impl<T: 'static> Source for SeqSource<T> {
    type Item = T;

    fn pull(&mut self) -> Promise<Option<T>> {
        let seq = self.0.borrow_mut().take();
        match settle(seq.force()) {
            Ok(Ok(Node::Cons(x, rest))) => {
                *self.0.borrow_mut() = rest;
                Promise::ret(Some(x))
            }
            Ok(Ok(Node::Nil)) => Promise::ret(None),
            Ok(Err(e)) => Promise::fail(e),
            Err(p) => {
                let cell = self.0.clone();
                p.map(move |node| match node {
                    Node::Cons(x, rest) => {
                        *cell.borrow_mut() = rest;
                        Some(x)
                    }
                    Node::Nil => None,
                })
            }
        }
    }
}

/// Where a loop over a sequence stands: a sequence to force, or a node already forced.
enum At<T: 'static> {
    Seq(Seq<T>),
    Node(Node<T>),
}

impl<T: 'static> Seq<T> {
    /// A sequence whose first node is what `f` returns when forced.
    ///
    /// ```
    /// use lwt_core::{seq::{self, Node, Seq}, Promise, State};
    /// let s = Seq::new(|| Promise::ret(Node::Cons("hi", seq::empty())));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec!["hi"]));
    /// ```
    pub fn new(f: impl FnOnce() -> Promise<Node<T>> + 'static) -> Seq<T> {
        Seq(Repr::Lazy(Box::new(f)))
    }

    /// Forces the first node (Lwt's `s ()`). A panic while forcing rejects the promise.
    ///
    /// Forcing consumes the sequence: it is traversed once.
    ///
    /// ```compile_fail
    /// let s = lwt_core::seq::of_list(vec![1]);
    /// let first = s.force();
    /// let again = s.force(); // error: use of moved value `s`
    /// ```
    ///
    /// ```
    /// use lwt_core::seq::{self, Node};
    /// let node = seq::of_list(vec![1, 2]).force();
    /// assert!(matches!(node.map(|n| matches!(n, Node::Cons(1, _))).state(), lwt_core::State::Fulfilled(true)));
    /// ```
    #[inline]
    pub fn force(self) -> Promise<Node<T>> {
        match self.0 {
            Repr::Lazy(f) => guard(f),
            Repr::Linked(links) => force_links(links),
        }
    }

    /// Lwt's `append`: the elements of this sequence, then those of `other`.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec![1]).append(seq::of_list(vec![2]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    /// ```
    pub fn append(self, other: Seq<T>) -> Seq<T> {
        Seq::link(Link::Append(self, other))
    }

    /// Lwt's `map`.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec![1, 2]).map(|x| x * 3);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![3, 6]));
    /// ```
    pub fn map<U: 'static>(self, mut f: impl FnMut(T) -> U + 'static) -> Seq<U> {
        Seq::new(move || {
            self.force().map(move |node| match node {
                Node::Nil => Node::Nil,
                Node::Cons(x, rest) => {
                    let y = f(x);
                    Node::Cons(y, rest.map(f))
                }
            })
        })
    }

    /// Lwt's `map_s`: [`map`](Seq::map) with a callback that returns a promise.
    ///
    /// ```
    /// use lwt_core::{seq, Promise, State};
    /// let s = seq::of_list(vec![1, 2]).map_s(|x| Promise::ret(x + 1));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
    /// ```
    pub fn map_s<U: 'static>(self, mut f: impl FnMut(T) -> Promise<U> + 'static) -> Seq<U> {
        Seq::new(move || {
            self.force().bind(move |node| match node {
                Node::Nil => Promise::ret(Node::Nil),
                Node::Cons(x, rest) => {
                    let p = f(x);
                    p.map(move |y| Node::Cons(y, rest.map_s(f)))
                }
            })
        })
    }

    /// Lwt's `filter`.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec![1, 2, 3]).filter(|x| *x != 2);
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 3]));
    /// ```
    pub fn filter(self, mut f: impl FnMut(&T) -> bool + 'static) -> Seq<T> {
        self.filter_map_s(move |x| Promise::ret(f(&x).then_some(x)))
    }

    /// Lwt's `filter_s`: [`filter`](Seq::filter) with a predicate that returns a promise.
    ///
    /// ```
    /// use lwt_core::{seq, Promise, State};
    /// let s = seq::of_list(vec![1, 2, 3]).filter_s(|x| Promise::ret(*x > 1));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![2, 3]));
    /// ```
    pub fn filter_s(self, mut f: impl FnMut(&T) -> Promise<bool> + 'static) -> Seq<T> {
        self.filter_map_s(move |x| f(&x).map(move |keep| keep.then_some(x)))
    }

    /// Lwt's `filter_map`.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec!["1", "x", "2"]).filter_map(|s| s.parse::<u8>().ok());
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
    /// ```
    pub fn filter_map<U: 'static>(self, mut f: impl FnMut(T) -> Option<U> + 'static) -> Seq<U> {
        self.filter_map_s(move |x| Promise::ret(f(x)))
    }

    /// Lwt's `filter_map_s`. Skips any number of dropped elements in a loop.
    ///
    /// ```
    /// use lwt_core::{seq, Promise, State};
    /// let s = seq::of_iter(0..1_000_000).filter_map_s(|x| Promise::ret((x == 999_999).then_some(x)));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![999_999]));
    /// ```
    pub fn filter_map_s<U: 'static>(
        self,
        f: impl FnMut(T) -> Promise<Option<U>> + 'static,
    ) -> Seq<U> {
        Seq::new(move || filter_map_go(At::Seq(self), f))
    }

    /// Lwt's `flat_map`: the elements of the sequences `f` returns, one after the other.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec![1, 2, 3]).flat_map(|x| seq::of_list(vec![x; x]));
    /// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 2, 3, 3, 3]));
    /// ```
    pub fn flat_map<U: 'static>(self, f: impl FnMut(T) -> Seq<U> + 'static) -> Seq<U> {
        Seq::new(move || flat_map_go(None, self, f))
    }

    /// Lwt's `fold_left`: combines the elements into an accumulator, `f(acc, x)`.
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// let s = seq::of_list(vec![1, 2, 3]).fold_left(10, |acc, x| acc + x);
    /// assert_eq!(s.state(), State::Fulfilled(16));
    /// ```
    pub fn fold_left<A: 'static>(
        self,
        init: A,
        mut f: impl FnMut(A, T) -> A + 'static,
    ) -> Promise<A> {
        drive(SeqSource::new(self), init, move |acc, item| match item {
            Some(x) => more(f(acc, x)),
            None => stop(acc),
        })
    }

    /// Lwt's `fold_left_s`: [`fold_left`](Seq::fold_left) with a callback that returns a
    /// promise.
    ///
    /// ```
    /// use lwt_core::{seq, Promise, State};
    /// let s = seq::of_list(vec![1, 2, 3]).fold_left_s(0, |acc, x| Promise::ret(acc * 10 + x));
    /// assert_eq!(s.state(), State::Fulfilled(123));
    /// ```
    pub fn fold_left_s<A: 'static>(
        self,
        init: A,
        mut f: impl FnMut(A, T) -> Promise<A> + 'static,
    ) -> Promise<A> {
        drive(SeqSource::new(self), init, move |acc, item| match item {
            Some(x) => f(acc, x).map(Continue),
            None => stop(acc),
        })
    }

    /// Lwt's `iter`.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let n = Rc::new(Cell::new(0));
    /// let m = n.clone();
    /// let done = lwt_core::seq::of_list(vec![1, 2]).iter(move |x| m.set(m.get() + x));
    /// assert!(done.is_fulfilled());
    /// assert_eq!(n.get(), 3);
    /// ```
    pub fn iter(self, mut f: impl FnMut(T) + 'static) -> Promise<()> {
        drive(SeqSource::new(self), (), move |(), item| match item {
            Some(x) => {
                f(x);
                more(())
            }
            None => stop(()),
        })
    }

    /// Lwt's `iter_s`: calls `f` on each element, waiting for its promise before forcing the
    /// next node. Stack-safe on any number of ready elements.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use lwt_core::{seq, Promise};
    /// let n = Rc::new(Cell::new(0_u64));
    /// let m = n.clone();
    /// let done = seq::of_iter(0..1_000_000_u64).iter_s(move |x| {
    ///     m.set(m.get() + x);
    ///     Promise::ret(())
    /// });
    /// assert!(done.is_fulfilled());
    /// assert_eq!(n.get(), 499_999_500_000);
    /// ```
    pub fn iter_s(self, mut f: impl FnMut(T) -> Promise<()> + 'static) -> Promise<()> {
        drive(SeqSource::new(self), (), move |(), item| match item {
            Some(x) => f(x).map(Continue),
            None => stop(()),
        })
    }

    /// Lwt's `iter_p`: calls `f` on each element as soon as its node is forced, without waiting
    /// for earlier callbacks; resolved when the sequence ended and every callback promise
    /// resolved. See the [module docs](self) for errors and memory.
    ///
    /// ```
    /// use lwt_core::{seq, wait, State};
    /// let (p, r) = wait::<()>();
    /// let mut waits = vec![p];
    /// let done = seq::of_list(vec![1, 2]).iter_p(move |_| waits.pop().unwrap_or(lwt_core::return_unit()));
    /// assert_eq!(done.state(), State::Pending);
    /// r.wakeup(());
    /// assert!(done.is_fulfilled());
    /// ```
    pub fn iter_p(self, f: impl FnMut(T) -> Promise<()> + 'static) -> Promise<()> {
        par(SeqSource::new(self), usize::MAX, f, "Seq::iter_p")
    }

    /// Lwt's `iter_n`: like [`iter_p`](Seq::iter_p) with at most `max_concurrency` callback
    /// promises pending at once (0 gives an [`InvalidArgument`](crate::InvalidArgument)
    /// rejection).
    ///
    /// ```
    /// use lwt_core::{seq, Promise, State};
    /// assert!(seq::of_list(vec![1, 2, 3]).iter_n(2, |_| Promise::ret(())).is_fulfilled());
    /// assert!(seq::of_list(vec![1]).iter_n(0, |_| Promise::ret(())).is_rejected());
    /// ```
    pub fn iter_n(
        self,
        max_concurrency: usize,
        f: impl FnMut(T) -> Promise<()> + 'static,
    ) -> Promise<()> {
        par(SeqSource::new(self), max_concurrency, f, "Seq::iter_n")
    }

    /// Lwt's `to_list`: every element, in a `Vec` (built in a loop, not by recursion).
    ///
    /// ```
    /// use lwt_core::{seq, State};
    /// assert_eq!(seq::of_list(vec![1, 2]).to_list().state(), State::Fulfilled(vec![1, 2]));
    /// ```
    pub fn to_list(self) -> Promise<Vec<T>> {
        drive(
            SeqSource::new(self),
            Vec::new(),
            |mut acc, item| match item {
                Some(x) => {
                    acc.push(x);
                    more(acc)
                }
                None => stop(acc),
            },
        )
    }
}

/// [`Seq::force`] for a sequence held as data.
fn force_links<T: 'static>(links: Links<T>) -> Promise<Node<T>> {
    let mut links = links;
    loop {
        let Some(link) = links.0.take() else {
            return Promise::ret(Node::Nil);
        };
        let (mut first, other) = match *link {
            Link::Cons(x, rest) => return Promise::ret(Node::Cons(x, rest)),
            Link::ConsLwt(p, rest) => return p.map(move |x| Node::Cons(x, rest)),
            Link::Append(first, other) => (first, other),
        };
        if let Repr::Linked(Links(Some(inner))) = &mut first.0 {
            if let Link::Append(_, second) = &mut **inner {
                // (a ++ b) ++ c is forced as a ++ (b ++ c): a loop, not a recursion.
                *second = second.take().append(other);
                links = Links(first.take_link());
                continue;
            }
        }
        match settle(first.force()) {
            Ok(Ok(Node::Nil)) => match other.0 {
                Repr::Lazy(f) => return guard(f),
                Repr::Linked(rest) => links = rest,
            },
            Ok(Ok(Node::Cons(x, rest))) => return Promise::ret(Node::Cons(x, rest.append(other))),
            Ok(Err(e)) => return Promise::fail(e),
            Err(p) => {
                return p.bind(move |node| match node {
                    Node::Nil => other.force(),
                    Node::Cons(x, rest) => Promise::ret(Node::Cons(x, rest.append(other))),
                })
            }
        }
    }
}

fn filter_map_go<T, U, F>(mut at: At<T>, mut f: F) -> Promise<Node<U>>
where
    T: 'static,
    U: 'static,
    F: FnMut(T) -> Promise<Option<U>> + 'static,
{
    loop {
        let node = match at {
            At::Node(node) => node,
            At::Seq(seq) => match settle(seq.force()) {
                Ok(Ok(node)) => node,
                Ok(Err(e)) => return Promise::fail(e),
                Err(p) => return p.bind(move |node| filter_map_go(At::Node(node), f)),
            },
        };
        let (x, rest) = match node {
            Node::Nil => return Promise::ret(Node::Nil),
            Node::Cons(x, rest) => (x, rest),
        };
        match settle(guard(|| f(x))) {
            Ok(Ok(Some(y))) => return Promise::ret(Node::Cons(y, rest.filter_map_s(f))),
            Ok(Ok(None)) => at = At::Seq(rest),
            Ok(Err(e)) => return Promise::fail(e),
            Err(p) => {
                return p.bind(move |found| match found {
                    Some(y) => Promise::ret(Node::Cons(y, rest.filter_map_s(f))),
                    None => filter_map_go(At::Seq(rest), f),
                })
            }
        }
    }
}

fn flat_map_go<T, U, F>(mut inner: Option<Seq<U>>, mut outer: Seq<T>, mut f: F) -> Promise<Node<U>>
where
    T: 'static,
    U: 'static,
    F: FnMut(T) -> Seq<U> + 'static,
{
    loop {
        if let Some(s) = inner.take() {
            match settle(s.force()) {
                Ok(Ok(Node::Cons(y, rest))) => {
                    return Promise::ret(Node::Cons(y, flat_map_rest(rest, outer, f)))
                }
                Ok(Ok(Node::Nil)) => {}
                Ok(Err(e)) => return Promise::fail(e),
                Err(p) => {
                    return p.bind(move |node| match node {
                        Node::Cons(y, rest) => {
                            Promise::ret(Node::Cons(y, flat_map_rest(rest, outer, f)))
                        }
                        Node::Nil => flat_map_go(None, outer, f),
                    })
                }
            }
        }
        match settle(outer.force()) {
            Ok(Ok(Node::Cons(x, rest))) => match call(|| f(x)) {
                Ok(s) => {
                    inner = Some(s);
                    outer = rest;
                }
                Err(e) => return Promise::fail(e),
            },
            Ok(Ok(Node::Nil)) => return Promise::ret(Node::Nil),
            Ok(Err(e)) => return Promise::fail(e),
            Err(p) => {
                return p.bind(move |node| match node {
                    Node::Cons(x, rest) => {
                        let s = f(x);
                        flat_map_go(Some(s), rest, f)
                    }
                    Node::Nil => Promise::ret(Node::Nil),
                })
            }
        }
    }
}

fn flat_map_rest<T, U, F>(inner: Seq<U>, outer: Seq<T>, f: F) -> Seq<U>
where
    T: 'static,
    U: 'static,
    F: FnMut(T) -> Seq<U> + 'static,
{
    Seq::new(move || flat_map_go(Some(inner), outer, f))
}

// ---- constructors ---------------------------------------------------------------------------------

/// Lwt's `empty`.
///
/// ```
/// use lwt_core::{seq, State};
/// assert_eq!(seq::empty::<u8>().to_list().state(), State::Fulfilled(vec![]));
/// ```
pub fn empty<T: 'static>() -> Seq<T> {
    Seq(Repr::Linked(Links(None)))
}

/// Lwt's `return`: a sequence of one element.
///
/// ```
/// use lwt_core::{seq, State};
/// assert_eq!(seq::ret(1).to_list().state(), State::Fulfilled(vec![1]));
/// ```
pub fn ret<T: 'static>(x: T) -> Seq<T> {
    cons(x, empty())
}

/// Lwt's `return_lwt`: a sequence of the value of `p` (the node waits for it).
///
/// ```
/// use lwt_core::{seq, wait, State};
/// let (p, r) = wait();
/// let all = seq::ret_lwt(p).to_list();
/// r.wakeup('x');
/// assert_eq!(all.state(), State::Fulfilled(vec!['x']));
/// ```
pub fn ret_lwt<T: 'static>(p: Promise<T>) -> Seq<T> {
    cons_lwt(p, empty())
}

/// Lwt's `cons`: `x`, then the elements of `rest`.
///
/// ```
/// use lwt_core::{seq, State};
/// assert_eq!(seq::cons(0, seq::of_list(vec![1])).to_list().state(), State::Fulfilled(vec![0, 1]));
/// ```
pub fn cons<T: 'static>(x: T, rest: Seq<T>) -> Seq<T> {
    Seq::link(Link::Cons(x, rest))
}

/// Lwt's `cons_lwt`: the value of `p`, then the elements of `rest`.
///
/// ```
/// use lwt_core::{seq, Promise, State};
/// let s = seq::cons_lwt(Promise::ret(0), seq::empty());
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![0]));
/// ```
pub fn cons_lwt<T: 'static>(p: Promise<T>, rest: Seq<T>) -> Seq<T> {
    Seq::link(Link::ConsLwt(p, rest))
}

/// Lwt's `unfold`: the elements `f` makes from a seed, until it answers `None`.
///
/// ```
/// use lwt_core::{seq, State};
/// let s = seq::unfold(1, |n| (n < 100).then(|| (n, n * 2)));
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2, 4, 8, 16, 32, 64]));
/// ```
pub fn unfold<T: 'static, S: 'static>(
    seed: S,
    mut f: impl FnMut(S) -> Option<(T, S)> + 'static,
) -> Seq<T> {
    Seq::new(move || match f(seed) {
        Some((x, next)) => Promise::ret(Node::Cons(x, unfold(next, f))),
        None => Promise::ret(Node::Nil),
    })
}

/// Lwt's `unfold_lwt`: [`unfold`] with a function that returns a promise.
///
/// ```
/// use lwt_core::{seq, Promise, State};
/// let pages = seq::unfold_lwt(0, |page| Promise::ret((page < 3).then(|| (format!("page {page}"), page + 1))));
/// assert_eq!(pages.to_list().state(), State::Fulfilled(vec!["page 0".to_string(), "page 1".into(), "page 2".into()]));
/// ```
pub fn unfold_lwt<T: 'static, S: 'static>(
    seed: S,
    mut f: impl FnMut(S) -> Promise<Option<(T, S)>> + 'static,
) -> Seq<T> {
    Seq::new(move || {
        let p = f(seed);
        p.map(move |step| match step {
            Some((x, next)) => Node::Cons(x, unfold_lwt(next, f)),
            None => Node::Nil,
        })
    })
}

/// Lwt's `of_list`.
///
/// ```
/// use lwt_core::{seq, State};
/// assert_eq!(seq::of_list(vec!['a']).to_list().state(), State::Fulfilled(vec!['a']));
/// ```
pub fn of_list<T: 'static>(items: Vec<T>) -> Seq<T> {
    of_iter(items)
}

/// Lwt's `of_seq`: the items of an iterator, drawn as the nodes are forced.
///
/// ```
/// use lwt_core::{seq, State};
/// let s = seq::of_iter(1..).map(|x| x * 10).filter(|x| x % 20 == 0);
/// let first = s.force().map(|n| matches!(n, seq::Node::Cons(20, _)));
/// assert_eq!(first.state(), State::Fulfilled(true));
/// ```
pub fn of_iter<I>(items: I) -> Seq<I::Item>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: 'static,
{
    match call(|| items.into_iter()) {
        Ok(items) => unfold(items, |mut it| it.next().map(|x| (x, it))),
        Err(panicked) => fail(panicked),
    }
}

/// Lwt's `of_seq_lwt`: the values of the promises of an iterator, each waited for in turn. A
/// panic of the iterator (in `into_iter` too) fails the sequence where it is forced.
///
/// ```
/// use lwt_core::{seq, Promise, State};
/// let s = seq::of_promises(vec![Promise::ret(1), Promise::ret(2)]);
/// assert_eq!(s.to_list().state(), State::Fulfilled(vec![1, 2]));
/// ```
pub fn of_promises<I, T>(promises: I) -> Seq<T>
where
    I: IntoIterator<Item = Promise<T>>,
    I::IntoIter: 'static,
    T: 'static,
{
    match call(|| promises.into_iter()) {
        Ok(promises) => unfold_lwt(promises, |mut it| match it.next() {
            Some(p) => p.map(move |x| Some((x, it))),
            None => Promise::ret(None),
        }),
        Err(panicked) => fail(panicked),
    }
}

/// A rejection, as a sequence that fails when forced (used by tests and callers that build
/// sequences by hand).
///
/// ```
/// use lwt_core::{seq, Exn};
/// let s = seq::fail::<u8>(Exn::failure("broken"));
/// assert!(s.to_list().is_rejected());
/// ```
pub fn fail<T: 'static>(e: Exn) -> Seq<T> {
    Seq::new(move || Promise::fail(e))
}
