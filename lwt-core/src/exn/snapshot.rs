//! [`ExnSnapshot`]: what an [`Exn`] says, in a value that can leave its thread.
//!
//! An `Exn` shares its error through a non-atomic reference count, so it stays on the thread of
//! the loop that made it. A program that reports failures elsewhere (a supervisor thread, a
//! channel to a logger, `anyhow::Error`, which must be `Send + Sync`) needs a copy that owns
//! plain data: the message of the error and of each of its sources, the [`io::ErrorKind`] and OS
//! error number where the error is an [`io::Error`], whether it was a cancellation, and the
//! trail. The error's type does not survive (the copy cannot be downcast to it): match on the
//! `Exn` before taking the snapshot when the type matters.

use std::error::Error;
use std::fmt;
use std::io;
use std::panic::Location;

use super::{Canceled, Exn, MAX_TRAIL};

/// A `Send + Sync` copy of an [`Exn`]'s message, sources, I/O error kind, cancellation and
/// trail, made by [`Exn::snapshot`] or by `?` into a `Box<dyn Error + Send + Sync>`.
///
/// Its [`Display`](fmt::Display) is the `Exn`'s, its [`source`](Error::source) chain has one
/// snapshot per source of the original error (the messages, kinds and OS error numbers of each),
/// and its [`Debug`](fmt::Debug) shows the trail as the `Exn`'s does.
///
/// ```
/// use std::error::Error;
/// use lwt_core::{main, unix};
///
/// let read = std::fs::OpenOptions::new().read(true).clone();
/// let e = main::run(unix::open_file("/no/such/dir/file", read)).unwrap_err();
/// let snapshot = e.snapshot();
/// let message = snapshot.to_string();
/// let from_the_thread = std::thread::spawn(move || snapshot).join().unwrap();
/// assert_eq!(from_the_thread.to_string(), message);
/// assert_eq!(from_the_thread.kind(), Some(std::io::ErrorKind::NotFound));
/// // The error names the path, and keeps the operating system's error number.
/// assert_eq!(from_the_thread.raw_os_error(), Some(2)); // ENOENT
/// assert!(from_the_thread.source().is_none());
/// ```
pub struct ExnSnapshot {
    message: String,
    io: Option<(io::ErrorKind, Option<i32>)>,
    canceled: bool,
    /// Dropped and cloned in a loop (below), so that a long chain costs no stack.
    source: Option<Box<ExnSnapshot>>,
    locations: Vec<&'static Location<'static>>,
    locations_dropped: usize,
}

impl ExnSnapshot {
    /// A snapshot of `error` and its sources, with no trail of its own. A snapshot met in the
    /// chain (an `Exn` made from one that came back from another thread) is copied whole, trail
    /// included: its type is the only thing of the first error it no longer has, and walking
    /// it as a plain error would lose its kind, number and cancellation.
    fn of_error(error: &(dyn Error + 'static)) -> ExnSnapshot {
        let mut chain = Vec::new();
        let mut innermost = None;
        let mut at = Some(error);
        while let Some(e) = at {
            if let Some(snapshot) = e.downcast_ref::<ExnSnapshot>() {
                innermost = Some(snapshot.clone());
                break;
            }
            chain.push(e);
            at = e.source();
        }
        // Built from the innermost source outwards, so that a long chain costs no stack.
        chain
            .into_iter()
            .rev()
            .fold(innermost, |source, e| {
                Some(ExnSnapshot {
                    message: e.to_string(),
                    io: e
                        .downcast_ref::<io::Error>()
                        .map(|e| (e.kind(), crate::unix::os_error_number(e))),
                    canceled: e.is::<Canceled>(),
                    source: source.map(Box::new),
                    locations: Vec::new(),
                    locations_dropped: 0,
                })
            })
            .expect("the chain holds the error itself")
    }

    /// This snapshot without its sources or trail.
    fn link(&self) -> ExnSnapshot {
        ExnSnapshot {
            message: self.message.clone(),
            io: self.io,
            canceled: self.canceled,
            source: None,
            locations: self.locations.clone(),
            locations_dropped: self.locations_dropped,
        }
    }

    /// This snapshot, then its sources.
    fn links(&self) -> impl Iterator<Item = &ExnSnapshot> {
        std::iter::successors(Some(self), |s| s.source.as_deref())
    }

    /// The [`io::ErrorKind`] of the error, when it was an [`io::Error`].
    pub fn kind(&self) -> Option<io::ErrorKind> {
        self.io.map(|(kind, _)| kind)
    }

    /// The operating system's error number, when the error was an [`io::Error`] that had one
    /// (for one naming an address or path, the number of the
    /// [`NamedError`](crate::unix::NamedError) it wraps).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.io.and_then(|(_, number)| number)
    }

    /// Was the error a cancellation ([`Canceled`])?
    pub fn is_canceled(&self) -> bool {
        self.canceled
    }

    /// The locations the rejection passed through, oldest first (see [`Exn::locations`]).
    pub fn locations(&self) -> impl Iterator<Item = &'static Location<'static>> + '_ {
        self.locations.iter().copied()
    }
}

impl Exn {
    /// A copy of what this rejection says that can be sent to another thread: see
    /// [`ExnSnapshot`].
    ///
    /// ```
    /// use lwt_core::Exn;
    /// let e = Exn::canceled();
    /// let s = std::thread::spawn({ let s = e.snapshot(); move || s }).join().unwrap();
    /// assert!(s.is_canceled());
    /// assert_eq!(s.to_string(), "canceled");
    /// ```
    pub fn snapshot(&self) -> ExnSnapshot {
        let mut snapshot = ExnSnapshot::of_error(self.as_error());
        // After the trail of a snapshot this one was made from, if any (older), as
        // `with_location` would have added them: the first `MAX_TRAIL` kept, the rest counted.
        for location in self.locations() {
            if snapshot.locations.len() < MAX_TRAIL && snapshot.locations_dropped == 0 {
                snapshot.locations.push(location);
            } else {
                snapshot.locations_dropped += 1;
            }
        }
        snapshot.locations_dropped += self.trail_dropped();
        snapshot
    }
}

impl Clone for ExnSnapshot {
    fn clone(&self) -> ExnSnapshot {
        let links: Vec<&ExnSnapshot> = self.links().collect();
        links
            .into_iter()
            .rev()
            .fold(None, |source, s| {
                let mut link = s.link();
                link.source = source.map(Box::new);
                Some(link)
            })
            .expect("a snapshot is a link at least")
    }
}

/// Two snapshots are equal when they say the same thing: link by link, the same message, I/O
/// error kind and number, and cancellation. Where the errors passed (their trails) is left out,
/// so that one failure reported from two places compares equal.
///
/// ```
/// use lwt_core::Exn;
/// let a = Exn::failure("no").snapshot();
/// assert_eq!(a, Exn::failure("no").snapshot());
/// assert_ne!(a, Exn::failure("yes").snapshot());
/// ```
impl PartialEq for ExnSnapshot {
    fn eq(&self, other: &ExnSnapshot) -> bool {
        let (mut mine, mut theirs) = (self.links(), other.links());
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b))
                    if a.message == b.message && a.io == b.io && a.canceled == b.canceled => {}
                _ => return false,
            }
        }
    }
}

impl Eq for ExnSnapshot {}

impl Drop for ExnSnapshot {
    fn drop(&mut self) {
        let mut next = self.source.take();
        while let Some(mut link) = next {
            next = link.source.take();
        }
    }
}

impl fmt::Display for ExnSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for ExnSnapshot {
    /// The message, with the I/O error kind and number if any, and the trail, then each
    /// source's (a snapshot met in the chain keeps its own trail): what `Exn`'s `Debug` shows
    /// through the error's own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, link) in self.links().enumerate() {
            if i == 0 {
                f.write_str("ExnSnapshot(")?;
            } else {
                f.write_str("\n    caused by (")?;
            }
            write!(f, "{:?}", link.message)?;
            if let Some((kind, number)) = link.io {
                write!(f, ", {kind:?}")?;
                if let Some(number) = number {
                    write!(f, ", os error {number}")?;
                }
            }
            f.write_str(")")?;
            // A link's own trail: the outermost's, or that of a snapshot met in the chain.
            let indent = if i == 0 { "    " } else { "        " };
            for location in &link.locations {
                write!(f, "\n{indent}passed through {location}")?;
            }
            if link.locations_dropped > 0 {
                write!(
                    f,
                    "\n{indent}... and {} more locations",
                    link.locations_dropped
                )?;
            }
        }
        Ok(())
    }
}

impl Error for ExnSnapshot {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

/// `?` from a `Result<_, Exn>` in a function that returns `Result<_, Box<dyn Error + Send +
/// Sync>>`: the box holds the [`ExnSnapshot`] (and `anyhow::Error::from_boxed`, or
/// `anyhow::anyhow!(e.snapshot())`, takes it from there).
///
/// ```
/// use std::error::Error;
/// use lwt_core::{main, Promise};
///
/// fn parse() -> Result<u32, Box<dyn Error + Send + Sync>> {
///     let n = main::run(Promise::<u32>::fail_with("not a number"))?;
///     Ok(n)
/// }
/// let e = std::thread::spawn(|| parse().unwrap_err()).join().unwrap();
/// assert_eq!(e.to_string(), "not a number");
/// assert!(e.is::<lwt_core::ExnSnapshot>());
/// ```
impl From<Exn> for Box<dyn Error + Send + Sync> {
    fn from(exn: Exn) -> Box<dyn Error + Send + Sync> {
        Box::new(exn.snapshot())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An error with a source (also used by `exn`'s tests).
    #[derive(Debug)]
    pub(crate) struct Wrapped(pub(crate) io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("while reading the config")
        }
    }

    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn keeps_each_source_with_its_kind_and_number() {
        let e = Exn::new(Wrapped(io::Error::from_raw_os_error(13)));
        let s = e.snapshot();
        assert_eq!(s.to_string(), "while reading the config");
        assert_eq!(s.kind(), None);
        let inner = s.source().unwrap().downcast_ref::<ExnSnapshot>().unwrap();
        assert_eq!(inner.kind(), Some(io::ErrorKind::PermissionDenied));
        assert_eq!(inner.raw_os_error(), Some(13));
        assert_eq!(
            inner.to_string(),
            io::Error::from_raw_os_error(13).to_string()
        );
        assert!(inner.source().is_none());
        assert!(!s.is_canceled());
    }

    /// Found in review (session 32): a snapshot raised again on the loop's thread (`Exn::from`)
    /// and snapshotted again lost its kind, OS number, cancellation and trail.
    #[test]
    fn a_snapshot_of_a_snapshot_keeps_everything() {
        let here = Location::caller();
        let first = Exn::new(Wrapped(io::Error::from_raw_os_error(2)))
            .with_location(here)
            .snapshot();
        let second = Exn::from(first.clone()).with_location(here).snapshot();
        assert_eq!(second.to_string(), first.to_string());
        let os = second
            .source()
            .unwrap()
            .downcast_ref::<ExnSnapshot>()
            .unwrap();
        assert_eq!(os.kind(), Some(io::ErrorKind::NotFound));
        assert_eq!(os.raw_os_error(), Some(2));
        assert_eq!(second.locations().count(), 2, "both trails, oldest first");
        assert!(Exn::from(Exn::canceled().snapshot())
            .snapshot()
            .is_canceled());
        // And inside a chain: an error whose source is a snapshot.
        #[derive(Debug)]
        struct Around(ExnSnapshot);
        impl fmt::Display for Around {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("around")
            }
        }
        impl Error for Around {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let around = Exn::new(Around(Exn::canceled().snapshot())).snapshot();
        let inner = around
            .source()
            .unwrap()
            .downcast_ref::<ExnSnapshot>()
            .unwrap();
        assert!(inner.is_canceled() && !around.is_canceled());
        // Its trail is kept, and shown under its line (review, session 32: `Debug` showed the
        // outermost trail only).
        let traced = Exn::failure("inner").with_location(here).snapshot();
        let around = Exn::new(Around(traced)).with_location(here).snapshot();
        let debug = format!("{around:?}");
        let lines: Vec<&str> = debug.lines().collect();
        assert_eq!(lines.len(), 4, "{debug}");
        assert_eq!(lines[0], "ExnSnapshot(\"around\")");
        assert!(lines[1].starts_with("    passed through lwt-core/src/exn/snapshot.rs"));
        assert_eq!(lines[2], "    caused by (\"inner\")");
        assert!(lines[3].starts_with("        passed through lwt-core/src/exn/snapshot.rs"));
    }

    #[test]
    fn a_full_trail_counts_what_a_second_snapshot_adds() {
        let mut e = Exn::failure("x");
        for _ in 0..30 {
            e = e.with_location(Location::caller());
        }
        let mut again = Exn::from(e.snapshot());
        for _ in 0..5 {
            again = again.with_location(Location::caller());
        }
        let s = again.snapshot();
        assert_eq!(s.locations().count(), 32);
        assert!(format!("{s:?}").ends_with("... and 3 more locations"));
    }

    /// Found in review (session 32): dropping or cloning a snapshot recursed once per source.
    #[test]
    fn a_long_chain_of_sources_costs_no_stack() {
        #[derive(Debug)]
        struct Link(usize, Option<&'static Link>);
        impl fmt::Display for Link {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "link {}", self.0)
            }
        }
        impl Error for Link {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1.map(|l| l as &(dyn Error + 'static))
            }
        }
        // Leaked, so that the test's own chain is never dropped (that would recurse).
        let mut head: Option<&'static Link> = None;
        for i in 0..200_000 {
            head = Some(Box::leak(Box::new(Link(i, head))));
        }
        let head = head.unwrap();
        let small_stack = std::thread::Builder::new().stack_size(256 << 10);
        let depth = small_stack
            .spawn(move || {
                let s = Exn::new(Link(200_000, Some(head))).snapshot();
                let copy = s.clone();
                drop(s);
                let depth = copy.links().count();
                drop(copy);
                depth
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(depth, 200_001);
    }

    #[test]
    fn debug_shows_the_sources() {
        let s = Exn::new(Wrapped(io::Error::from_raw_os_error(13))).snapshot();
        let debug = format!("{s:?}");
        assert!(
            debug.starts_with("ExnSnapshot(\"while reading the config\")\n    caused by (\"")
                && debug.ends_with("\", PermissionDenied, os error 13)"),
            "{debug}"
        );
    }

    #[test]
    fn keeps_the_trail() {
        let mut e = Exn::failure("lost");
        for _ in 0..40 {
            e = e.with_location(Location::caller());
        }
        let s = e.snapshot();
        assert_eq!(s.locations().count(), 32);
        let debug = format!("{s:?}");
        assert!(debug.starts_with("ExnSnapshot(\"lost\")\n    passed through "));
        assert!(debug.ends_with("... and 8 more locations"), "{debug}");
    }
}
