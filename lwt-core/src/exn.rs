//! [`Exn`], the rejection type, and the error types the runtime itself raises.
//!
//! OCaml's Lwt rejects promises with exceptions. An exception there is a cheap, immutable, dynamically
//! typed value that handlers match by constructor. `Exn` is the same idea in Rust: a reference-counted
//! `dyn Error` that is cheap to clone (one counter increment), that handlers match by downcasting, and
//! that knows a few distinguished cases:
//!
//! | Lwt | here |
//! |---|---|
//! | `Lwt.Canceled` | [`Canceled`] ([`Exn::is_canceled`]) |
//! | `Failure s` (`Lwt.fail_with`) | [`Failure`] |
//! | `Invalid_argument s` (`Lwt.fail_invalid_arg`) | [`InvalidArgument`] |
//! | an exception raised by a callback | [`Panicked`], holding the panic message (or the value of a `panic_any`) |
//! | (no counterpart: Lwt leaves the promise pending forever) | [`Abandoned`]: the resolver was dropped |
//! | `exception Transient of int` (a program's own) | [`exception! { pub Transient(pub u32); }`](crate::exception): an error type, printed `Transient(3)` |
//!
//! `Display` prints a message as Rust errors do, not as OCaml's `Printexc.to_string`: a
//! [`Failure`] prints its message alone (`disk full`, where OCaml prints `Failure("disk full")`)
//! and an [`InvalidArgument`] prints `invalid argument: ` and its message (OCaml:
//! `Invalid_argument("..")`). An `exception!` type prints OCaml's form, since it has no message
//! of its own to print.
//!
//! An `Exn` can also carry a short trail of source locations: the `lwt!` macro records the `let` a
//! rejection passed through, and `Debug` prints the trail, because Lwt users lose backtraces through
//! binds.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

mod declare;
mod snapshot;

pub use snapshot::ExnSnapshot;

/// How many locations an [`Exn`] remembers; older ones are counted, not kept, so that a rejection
/// travelling through a million-level chain stays small.
const MAX_TRAIL: usize = 32;

/// The rejection of a promise: a cheap-to-clone dynamic error.
///
/// `Exn` deliberately does not implement [`std::error::Error`] itself, so that it can offer
/// `From<E>` for every `E: Error + 'static` (the `?`-friendly conversion `anyhow` users know).
/// Use [`Exn::as_error`] to see it as a `&dyn Error`, and `?` to turn it into a
/// `Box<dyn Error>`.
///
/// # Threads
///
/// `Exn` is neither `Send` nor `Sync`: it is a non-atomic reference count, as every handle of
/// this crate, which runs a loop per thread. To pass a failure to another thread, send what it
/// says: [`Exn::snapshot`] copies its message, sources, I/O error kind and trail into an
/// [`ExnSnapshot`], which is `Send + Sync` (and `?` makes one for a
/// `Box<dyn Error + Send + Sync>`). A [`detach`](crate::preemptive::detach)ed job that can fail returns its error
/// inside its value (`Result<T, E>` with `E: Send`), not as a rejection.
///
/// ```compile_fail
/// let e = lwt_core::Exn::failure("stays here");
/// std::thread::spawn(move || drop(e)); // `Rc<..>` cannot be sent between threads safely
/// ```
///
/// ```
/// use lwt_core::{Exn, Failure};
///
/// let e = Exn::from(std::io::Error::new(std::io::ErrorKind::Other, "disk on fire"));
/// assert!(e.is::<std::io::Error>());
/// assert_eq!(e.to_string(), "disk on fire");
///
/// let f = Exn::failure("bad input");
/// assert_eq!(f.downcast_ref::<Failure>().unwrap().0, "bad input");
/// let g = f.clone(); // one reference-count increment
/// assert!(g.ptr_eq(&f));
/// ```
#[derive(Clone)]
pub struct Exn(Rc<Inner>);

/// Behind one thin pointer, so that an `Exn` is a single word: `Result<u64, Exn>` is then two
/// words and a `Promise<u64>` too, small enough to travel in registers. Rejections are the rare
/// path; every promise handle and every outcome moved through the engine is the common one.
#[derive(Clone)]
struct Inner {
    error: Rc<dyn Error + 'static>,
    trail: Trail,
}

#[derive(Clone, Default)]
struct Trail {
    /// The first [`MAX_TRAIL`] locations.
    locations: Vec<&'static Location<'static>>,
    /// How many came after those.
    dropped: usize,
    /// The latest, kept or counted: what a location must differ from to be added (see
    /// `control`'s `located`).
    last: Option<&'static Location<'static>>,
}

impl Exn {
    /// Wraps any error.
    pub fn new<E: Error + 'static>(error: E) -> Exn {
        Exn(Rc::new(Inner {
            error: Rc::new(error),
            trail: Trail::default(),
        }))
    }

    /// Wraps a boxed error, the `Box<dyn Error + Send + Sync>` of a [`detach`]ed job or of a
    /// library's `Result`: the error inside the box becomes the rejection, with its type (for
    /// [`is`](Exn::is), [`downcast_ref`](Exn::downcast_ref) and the `exception` arms of `lwt!`)
    /// and its sources. A box is not itself an [`Error`], so [`Exn::new`] and `?` do not take
    /// one (a `From` for it would overlap the one for every error): write
    /// `.map_err(Exn::from_boxed)`, or [`from_boxed_local`](Exn::from_boxed_local) for a
    /// `Box<dyn Error>`. A box that `?` made from an `Exn` holds its [`ExnSnapshot`] (an `Exn`
    /// is not `Send`), which is what comes back: message, kind, cancellation and sources, not
    /// the error's type.
    ///
    /// [`detach`]: crate::preemptive::detach
    ///
    /// ```
    /// use std::error::Error;
    /// use lwt_core::{Exn, Promise, State};
    ///
    /// fn parse(s: &str) -> Result<u8, Box<dyn Error + Send + Sync>> {
    ///     Ok(s.parse()?)
    /// }
    /// let p = Promise::of_result(parse("x").map_err(Exn::from_boxed));
    /// let State::Rejected(e) = p.state() else { panic!() };
    /// assert!(e.is::<std::num::ParseIntError>()); // the type in the box, not the box
    /// assert_eq!(e.to_string(), "invalid digit found in string");
    /// ```
    pub fn from_boxed(error: Box<dyn Error + Send + Sync + 'static>) -> Exn {
        Exn::from_boxed_local(error)
    }

    /// [`from_boxed`](Exn::from_boxed) for a box that need not be `Send` (a `Box<dyn Error>`,
    /// as a program's `main` returns). A box that `?` made from an `Exn` gives that `Exn` back.
    ///
    /// ```
    /// use std::error::Error;
    /// let boxed: Box<dyn Error> = Box::new(std::fmt::Error);
    /// assert!(lwt_core::Exn::from_boxed_local(boxed).is::<std::fmt::Error>());
    /// ```
    pub fn from_boxed_local(error: Box<dyn Error + 'static>) -> Exn {
        // An `Exn` boxed by `?` comes back as itself: its error's type, cancellation and trail
        // (wrapped again, they would be behind a private type).
        match error.downcast::<ExnError>() {
            Ok(exn) => exn.0,
            Err(error) => Exn(Rc::new(Inner {
                error: Rc::from(error),
                trail: Trail::default(),
            })),
        }
    }

    /// The rejection of canceled promises ([`Canceled`]).
    ///
    /// ```
    /// use lwt_core::{wait, Exn};
    /// let (p, r) = wait::<u8>();
    /// r.wakeup_exn(Exn::canceled()); // as if canceled: its `on_cancel` handlers run too, as Lwt's
    /// assert!(p.rejection().unwrap().is_canceled());
    /// ```
    pub fn canceled() -> Exn {
        Exn::new(Canceled)
    }

    /// A [`Failure`] with the given message, as OCaml's `failwith`.
    pub fn failure(message: impl Into<String>) -> Exn {
        Exn::new(Failure(message.into()))
    }

    /// An [`InvalidArgument`] with the given message, as OCaml's `invalid_arg`.
    ///
    /// ```
    /// use lwt_core::{Exn, InvalidArgument};
    /// let e = Exn::invalid_argument("n must be positive");
    /// assert_eq!(e.downcast_ref::<InvalidArgument>().unwrap().message(), "n must be positive");
    /// ```
    pub fn invalid_argument(message: impl Into<String>) -> Exn {
        Exn::new(InvalidArgument(message.into()))
    }

    /// Builds the rejection for a panic payload caught by [`std::panic::catch_unwind`]: a
    /// [`Panicked`] with the panic message, when the payload is a string, as it almost always
    /// is; any other payload (`std::panic::panic_any(value)`) is kept in it, for
    /// [`Panicked::take_payload`].
    ///
    /// ```
    /// use lwt_core::{Exn, Panicked};
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("boom {}", 42)).unwrap_err();
    /// let e = Exn::from_panic(payload);
    /// assert_eq!(e.downcast_ref::<Panicked>().unwrap().message(), "boom 42");
    /// ```
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Exn {
        Exn::new(Panicked::of_payload(payload))
    }

    /// Is this the rejection of a canceled promise? Also true of an `Exn` made from the
    /// [`snapshot`](Exn::snapshot) of one, so that a cancellation reported from another thread
    /// still counts as one on the loop (as the snapshot's own
    /// [`is_canceled`](ExnSnapshot::is_canceled) says). Test this rather than compare with
    /// `==` (see [`PartialEq`](#impl-PartialEq-for-Exn)).
    ///
    /// ```
    /// use lwt_core::Exn;
    /// assert!(Exn::canceled().is_canceled());
    /// let from_a_thread = std::thread::spawn(|| Exn::canceled().snapshot()).join().unwrap();
    /// assert!(Exn::from(from_a_thread).is_canceled());
    /// assert!(!Exn::failure("no").is_canceled());
    /// ```
    pub fn is_canceled(&self) -> bool {
        self.is::<Canceled>()
            || self
                .downcast_ref::<ExnSnapshot>()
                .is_some_and(ExnSnapshot::is_canceled)
    }

    /// Is the error inside of type `E`?
    pub fn is<E: Error + 'static>(&self) -> bool {
        self.0.error.is::<E>()
    }

    /// The error inside, if it is of type `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.error.downcast_ref::<E>()
    }

    /// The error inside, as a trait object (for `source()` chains and reporting).
    ///
    /// ```
    /// use std::error::Error;
    /// use lwt_core::Exn;
    /// let e = Exn::new(std::fmt::Error);
    /// let inner: &dyn Error = e.as_error();
    /// assert!(inner.is::<std::fmt::Error>());
    /// assert!(inner.source().is_none());
    /// ```
    pub fn as_error(&self) -> &(dyn Error + 'static) {
        &*self.0.error
    }

    /// Do both values share the same error (one was cloned from the other)?
    pub fn ptr_eq(&self, other: &Exn) -> bool {
        Rc::ptr_eq(&self.0.error, &other.0.error)
    }

    /// Returns this rejection with `location` added to its trail. The `lwt!` macro calls this for
    /// each `let` a rejection passes through; [`Debug`](fmt::Debug) prints the trail.
    ///
    /// ```
    /// use lwt_core::Exn;
    ///
    /// let e = Exn::failure("lost").with_location(std::panic::Location::caller());
    /// assert_eq!(e.locations().count(), 1);
    /// assert!(format!("{e:?}").contains("exn.rs"));
    /// ```
    #[must_use]
    pub fn with_location(mut self, location: &'static Location<'static>) -> Exn {
        // Copy on write: the clones this one was made from keep their own trail.
        let trail = &mut Rc::make_mut(&mut self.0).trail;
        trail.last = Some(location);
        if trail.locations.len() < MAX_TRAIL {
            trail.locations.push(location);
        } else {
            trail.dropped += 1;
        }
        self
    }

    /// The latest location added, even once the trail is full and only counts them.
    pub(crate) fn last_location(&self) -> Option<&'static Location<'static>> {
        self.0.trail.last
    }

    /// The locations this rejection passed through, oldest first.
    pub fn locations(&self) -> impl Iterator<Item = &'static Location<'static>> + '_ {
        self.0.trail.locations.iter().copied()
    }

    /// How many locations came after the first [`MAX_TRAIL`], counted, not kept.
    pub(crate) fn trail_dropped(&self) -> usize {
        self.0.trail.dropped
    }
}

/// An [`Exn`] as a `std::error::Error`, for `Box<dyn Error>`: its message, its error's sources,
/// and the trail in `Debug`.
struct ExnError(Exn);

impl fmt::Display for ExnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ExnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Error for ExnError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.as_error().source()
    }
}

/// `?` from a `Result<_, Exn>` (what `main::run` returns) in a function that returns
/// `Result<_, Box<dyn Error>>`. (`Exn` is not `Error` itself, which is what lets it convert from
/// every error type; the box holds a private wrapper, so match the error by type, with
/// [`Exn::downcast_ref`], before it is boxed.) For a `Box<dyn Error + Send + Sync>`, `?` boxes
/// an [`ExnSnapshot`] instead, since an `Exn` stays on its thread (see [`Exn`]).
///
/// ```
/// use std::error::Error;
/// use lwt_core::{main, Promise};
///
/// fn parse() -> Result<u32, Box<dyn Error>> {
///     let n = main::run(Promise::<u32>::fail_with("not a number"))?;
///     Ok(n)
/// }
/// assert_eq!(parse().unwrap_err().to_string(), "not a number");
/// ```
impl From<Exn> for Box<dyn Error> {
    fn from(exn: Exn) -> Box<dyn Error> {
        Box::new(ExnError(exn))
    }
}

impl fmt::Display for Exn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0.error, f)
    }
}

impl fmt::Debug for Exn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Exn({:?})", self.0.error)?;
        let trail = &self.0.trail;
        for location in &trail.locations {
            write!(f, "\n    passed through {location}")?;
        }
        if trail.dropped > 0 {
            write!(f, "\n    ... and {} more locations", trail.dropped)?;
        }
        Ok(())
    }
}

impl PartialEq for Exn {
    /// Two `Exn`s are equal when one was cloned from the other (OCaml's physical equality).
    /// Each [`Exn::canceled`] (or `Exn::new`) is a new value, so `e == Exn::canceled()` is
    /// always false, where OCaml's `e == Lwt.Canceled` holds for every cancellation (a constant
    /// constructor is one shared value): test [`is_canceled`](Exn::is_canceled), or
    /// [`is`](Exn::is) for another type.
    ///
    /// ```
    /// use lwt_core::Exn;
    /// let e = Exn::canceled();
    /// assert!(e == e.clone());
    /// assert!(e != Exn::canceled() && e.is_canceled());
    /// ```
    fn eq(&self, other: &Exn) -> bool {
        self.ptr_eq(other)
    }
}

impl Eq for Exn {}

impl<E: Error + 'static> From<E> for Exn {
    fn from(error: E) -> Exn {
        Exn::new(error)
    }
}

macro_rules! message_error {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl $name {
            /// The message, as [`Panicked::message`] gives a panic's.
            pub fn message(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl Error for $name {}
    };
}

message_error!(
    /// OCaml's `Failure`: a plain failure with a message ([`Exn::failure`], `Promise::fail_with`).
    ///
    /// ```
    /// use lwt_core::exn::{Exn, Failure};
    ///
    /// let e = Exn::failure("disk full");
    /// assert_eq!(e.downcast_ref::<Failure>().map(Failure::message), Some("disk full"));
    /// assert_eq!(e.to_string(), "disk full");
    /// ```
    Failure,
    ""
);
message_error!(
    /// OCaml's `Invalid_argument`: the runtime's answer to a misuse it can only see at run time
    /// (for example an empty list given to `choose`).
    ///
    /// ```
    /// use lwt_core::exn::{Exn, InvalidArgument};
    ///
    /// let e = Exn::invalid_argument("bad job");
    /// assert_eq!(e.downcast_ref::<InvalidArgument>().map(InvalidArgument::message), Some("bad job"));
    /// assert_eq!(e.to_string(), "invalid argument: bad job"); // OCaml: Invalid_argument("bad job")
    /// ```
    InvalidArgument,
    "invalid argument: "
);

/// The rejection of a canceled promise (Lwt's `Canceled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canceled;

impl fmt::Display for Canceled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("canceled")
    }
}

impl Error for Canceled {}

/// What a payload that is not a string says of itself: an error's message, for the error types
/// a panic is likely to carry.
fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(e) = payload.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        e.to_string()
    } else if let Some(e) = payload.downcast_ref::<std::io::Error>() {
        e.to_string()
    } else {
        String::from("<non-string panic payload>")
    }
}

/// Drops a panic payload whose `Drop` may itself panic (a payload is any value): that second
/// panic is caught and its own payload leaked, rather than unwinding out of the runtime.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
    {
        std::mem::forget(again);
    }
}

/// Code the runtime ran for a promise panicked: a callback, a clone of its value, an expression
/// `lwt!` evaluated for it, work given to [`detach`](crate::preemptive::detach). The promise that
/// depended on that code is rejected with this, as Lwt rejects it with the exception raised.
///
/// A panic with a message (`panic!("..")`, `unwrap` and the like) gives its [`message`](Self::message).
/// A panic with a value of another type (`std::panic::panic_any(value)`, Lwt's `raise` of an
/// exception of one's own) keeps the value, which [`take_payload`](Self::take_payload) gives
/// back: to match it by type, or to go on panicking with it.
///
/// ```
/// use lwt_core::{Panicked, Promise};
///
/// #[derive(Debug, PartialEq)]
/// struct Overdrawn(u32);
///
/// let p = Promise::ret(10).map(|_| -> u32 { std::panic::panic_any(Overdrawn(3)) });
/// let e = p.rejection().unwrap();
/// let panicked = e.downcast_ref::<Panicked>().unwrap();
/// let value = panicked.take_payload().unwrap();
/// assert_eq!(value.downcast_ref::<Overdrawn>(), Some(&Overdrawn(3)));
/// assert!(panicked.take_payload().is_none()); // taken
/// ```
///
/// Clones of a `Panicked` share its payload; two of them are equal when their messages are.
#[derive(Clone)]
pub struct Panicked {
    message: String,
    /// A payload that is not a string. In a `Mutex` so that `Panicked` stays `Send` and `Sync`,
    /// as an error type is expected to be.
    payload: Option<Arc<Payload>>,
}

/// A panic payload kept for [`Panicked::take_payload`]. Its drop is guarded: a payload is any
/// value, and its `Drop` may panic.
struct Payload(Mutex<Option<Box<dyn Any + Send>>>);

impl Drop for Payload {
    fn drop(&mut self) {
        let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(payload) = slot.take() {
            drop_payload(payload);
        }
    }
}

impl Panicked {
    /// The rejection for a caught panic's payload (see [`Exn::from_panic`]).
    fn of_payload(payload: Box<dyn Any + Send>) -> Panicked {
        let payload = match payload.downcast::<String>() {
            Ok(message) => return Panicked::with_message(*message),
            Err(payload) => payload,
        };
        let payload = match payload.downcast::<&'static str>() {
            Ok(message) => return Panicked::with_message((*message).to_owned()),
            Err(payload) => payload,
        };
        Panicked {
            message: payload_message(&*payload),
            payload: Some(Arc::new(Payload(Mutex::new(Some(payload))))),
        }
    }

    fn with_message(message: String) -> Panicked {
        Panicked {
            message,
            payload: None,
        }
    }

    /// The panic message. For a payload that is not a string: an error's message if the payload
    /// is a `Box<dyn Error + Send + Sync>` or an [`std::io::Error`], and otherwise
    /// `"<non-string panic payload>"`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Takes out the panic's payload if it was not a string (see the [type docs](Self)): `None`
    /// for a panic with a message, and once the payload has been taken, by this handle or a
    /// clone. `std::panic::resume_unwind` with it goes on with the panic as it began.
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send>> {
        let payload = self.payload.as_ref()?;
        payload.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message)
            .field("has_payload", &self.payload.is_some())
            .finish()
    }
}

impl PartialEq for Panicked {
    fn eq(&self, other: &Panicked) -> bool {
        self.message == other.message
    }
}

impl Eq for Panicked {}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for Panicked {}

/// The promise's [`Resolver`](crate::Resolver) was dropped without resolving it.
///
/// In Lwt such a promise stays pending forever, and whatever waits on it hangs silently. Here the
/// drop rejects it, so the wait ends with an error that says why, and, for a promise made by
/// [`wait`](crate::wait) or [`task`](crate::task), where that call is.
///
/// ```
/// use lwt_core::{wait, Abandoned};
///
/// let (p, r) = wait::<u8>();
/// drop(r);
/// let e = p.rejection().unwrap();
/// assert!(e.is::<Abandoned>());
/// // In a program, the message names the `wait()`: "the promise made at src/main.rs:3:14 was
/// // abandoned: its resolver was dropped before it resolved the promise". (Not in this
/// // example: rustdoc names it after a file of this crate, whose lines are left out.)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Abandoned {
    pub(crate) made_at: Option<&'static Location<'static>>,
}

impl Abandoned {
    /// An `Abandoned` that names no place, for code that rejects a promise of its own this way.
    ///
    /// ```
    /// use lwt_core::{Abandoned, Exn};
    /// let e = Exn::new(Abandoned::new());
    /// assert!(e.is::<Abandoned>() && e.downcast_ref::<Abandoned>().unwrap().made_at().is_none());
    /// ```
    pub fn new() -> Abandoned {
        Abandoned { made_at: None }
    }

    /// Where the promise was made: the call of [`wait`](crate::wait) or [`task`](crate::task).
    /// `None` for a promise the runtime made (a mailbox's `take`, a lock's wait...), whose
    /// structure was dropped.
    pub fn made_at(&self) -> Option<&'static Location<'static>> {
        self.made_at
    }
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.made_at {
            Some(site) => write!(
                f,
                "the promise made at {site} was abandoned: its resolver was dropped before it \
                 resolved the promise"
            ),
            None => f.write_str(
                "the promise was abandoned: the resolver (or the mutex, mailbox, stream or other \
                 structure holding it) was dropped before it resolved the promise",
            ),
        }
    }
}

impl Error for Abandoned {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in review (rev76, session 37): a `Box<dyn Error>` made from an `Exn` came back
    /// wrapped in the private type of the box, with no cancellation and no type to match.
    #[test]
    fn an_exn_boxed_by_question_mark_comes_back_as_itself() {
        let boxed: Box<dyn Error> = Exn::canceled().into();
        let e = Exn::from_boxed_local(boxed);
        assert!(e.is_canceled() && e.is::<Canceled>());
        let boxed: Box<dyn Error> = Exn::failure("oops").into();
        let e = Exn::from_boxed_local(boxed);
        assert_eq!(
            e.downcast_ref::<Failure>().map(Failure::message),
            Some("oops")
        );
        // Through a `Send` box, the snapshot: cancellation kept, type not.
        let boxed: Box<dyn Error + Send + Sync> = Exn::canceled().into();
        assert!(Exn::from_boxed(boxed).is_canceled());
    }

    /// Found in review (rev75, session 37): a `Box<dyn Error + Send + Sync>` could not become
    /// an `Exn` but through its message, losing its type and sources.
    #[test]
    fn a_boxed_error_keeps_its_type_and_sources() {
        use super::snapshot::tests::Wrapped;
        let boxed: Box<dyn Error + Send + Sync> =
            Box::new(Wrapped(std::io::Error::from_raw_os_error(2)));
        let e = Exn::from_boxed(boxed);
        assert!(e.is::<Wrapped>());
        assert_eq!(e.to_string(), "while reading the config");
        let source = e.as_error().source().expect("the io::Error");
        assert_eq!(
            source
                .downcast_ref::<std::io::Error>()
                .unwrap()
                .raw_os_error(),
            Some(2)
        );
    }

    #[test]
    fn trail_is_capped_and_counted() {
        let mut e = Exn::failure("x");
        for _ in 0..100 {
            e = e.with_location(Location::caller());
        }
        assert_eq!(e.locations().count(), MAX_TRAIL);
        assert!(format!("{e:?}").contains("and 68 more locations"));
    }

    #[test]
    fn trail_does_not_leak_into_clones_taken_before() {
        let a = Exn::failure("x");
        let b = a.clone().with_location(Location::caller());
        assert_eq!(a.locations().count(), 0);
        assert_eq!(b.locations().count(), 1);
        assert!(a.ptr_eq(&b));
    }

    #[test]
    fn displays() {
        assert_eq!(Exn::canceled().to_string(), "canceled");
        assert_eq!(
            Exn::invalid_argument("choose: empty list").to_string(),
            "invalid argument: choose: empty list"
        );
        let e = Exn::from_panic(Box::new(7_u8));
        assert_eq!(
            e.downcast_ref::<Panicked>().unwrap().message(),
            "<non-string panic payload>"
        );
    }
}

#[cfg(test)]
mod size_tests {
    use super::Exn;
    use crate::promise::Promise;
    use std::mem::size_of;

    /// The point of `Inner`: a rejection is one word, so small outcomes and promise handles are
    /// two words (passed and returned in registers).
    #[test]
    fn an_exn_is_one_word_and_a_promise_of_a_word_is_two() {
        assert_eq!(size_of::<Exn>(), size_of::<usize>());
        assert_eq!(size_of::<Result<u64, Exn>>(), 2 * size_of::<usize>());
        assert_eq!(size_of::<Promise<u64>>(), 2 * size_of::<usize>());
        assert_eq!(size_of::<Promise<()>>(), 2 * size_of::<usize>());
    }

    #[test]
    fn a_location_added_to_a_clone_stays_on_that_clone() {
        let e = Exn::failure("x");
        let f = e.clone().with_location(std::panic::Location::caller());
        assert_eq!(e.locations().count(), 0);
        assert_eq!(f.locations().count(), 1);
        assert!(f.ptr_eq(&e)); // the same error
    }
}
