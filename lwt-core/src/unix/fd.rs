//! [`Fd`]: a file descriptor the loop can wait on (Lwt_unix's `file_descr`).
//!
//! An `Fd` owns its descriptor and is a cheap, clonable handle (clones share it). Three kinds:
//!
//! * **pollable** (pipes, sockets, terminals opened by the program): non-blocking; `read` and
//!   `write` try the system call and, if it would block, wait for readiness from the reactor;
//! * **always ready** (regular files, `/dev/null`: epoll refuses them, as it refuses every
//!   regular file): reads and writes are done directly. A regular file never makes a read wait
//!   for data, so this is what Lwt's own regular-file reads amount to, minus the thread hop;
//! * **blocking** (the process's standard streams): reads go through the thread pool
//!   ([`preemptive::detach`](crate::preemptive::detach())), because the descriptor is shared with
//!   the parent process and must stay in blocking mode; writes, an `Fd`'s own and an output
//!   channel's ([`io::stdout`](crate::io::stdout()) and [`io::stderr`](crate::io::stderr())), go
//!   through the thread pool too, as Lwt's do, so that a reader that does not keep up never
//!   blocks the loop (and, as Lwt's, such a write cannot be canceled once it is submitted).
//!   `wait_read` and `wait_write` poll it, and a stream whose open file description turns out to
//!   be non-blocking (a parent set `O_NONBLOCK`) is used as a pollable one from its first
//!   `EAGAIN` on.
//!
//! Reads and writes come in two shapes. [`Fd::read`] and [`Fd::write`] take and give
//! `Vec<u8>`s, which is simplest. [`Fd::read_into`] and [`Fd::write_from`] are Lwt_unix's own
//! `read fd buf ofs len` and `write fd buf ofs len`: they move a buffer in and give it back with
//! the count, so a loop reusing one buffer makes no allocation for its data.
//!
//! On a TCP socket made by this crate ([`connect_tcp`](super::connect_tcp), a
//! [`Listener`](super::Listener)'s `accept`), a read that gets less than it asked for shows the
//! socket's input drained: until the reactor reports the socket again, the next read waits for
//! it without a system call bound to fail with `EAGAIN` (and so does a write after a short
//! write). A server reading requests into a buffer bigger than they are makes one system call
//! fewer per request. Data that arrives after a short read, before the loop polls again, reaches
//! the next read at that poll (one turn of the loop) instead of at once; and a socket whose
//! receive low-water mark (`SO_RCVLOWAT`) was raised through its raw descriptor then waits for
//! that mark, as the reactor does. Unix-domain sockets and files read as before.
//!
//! ```
//! use lwt_core::{main, unix};
//!
//! let (r, w) = unix::pipe().unwrap();
//! let read = r.read(64);
//! assert!(read.is_pending());
//! let n = main::run(w.write(b"ping".to_vec())).unwrap();
//! assert_eq!(n, 4);
//! assert_eq!(main::run(read).unwrap(), b"ping");
//! ```

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::Token;

use crate::engine;
use crate::node::CancelListener;
use crate::readiness::Readiness;
use crate::resolver::{task_telling, Resolver};

/// What one round of tries of an operation came to.
pub(crate) enum Attempt<T> {
    Done(io::Result<T>),
    /// It would block: wait for this token's readiness.
    Blocked(Token),
}

/// An operation waiting for its descriptor, with the resolver of its result.
struct Retry<T: 'static, F> {
    fd: Fd,
    write: bool,
    op: F,
    resolver: Resolver<T>,
}

impl<T: 'static, F: Fn(&Io<'_>) -> io::Result<T> + 'static> engine::IoJob for Retry<T, F> {
    fn is_pending(&self) -> bool {
        self.resolver.is_pending()
    }

    fn ready(self: Box<Self>) {
        if !self.resolver.is_pending() {
            return; // canceled while it waited: do not touch the descriptor
        }
        match self.fd.attempt(self.write, &self.op) {
            Attempt::Done(outcome) => self.resolver.wakeup_result(outcome.map_err(Exn::from)),
            Attempt::Blocked(token) => {
                let write = self.write;
                engine::with(|e| e.refile_io_job(token, write, self));
            }
        }
    }

    fn fail(self: Box<Self>, error: io::Error) {
        self.resolver.wakeup_exn(error);
    }
}

/// A read waiting for its descriptor, with a continuation for its result instead of a promise:
/// the runtime's own reads (see [`Fd::read_into_then`]), given up when `wanted` goes false.
struct RetryThen<F, K> {
    fd: Fd,
    op: F,
    then: K,
    wanted: Rc<Cell<bool>>,
}

/// What a read into a buffer gives back: the buffer and the count.
type ReadInto = (Vec<u8>, usize);

impl<F, K> engine::IoJob for RetryThen<F, K>
where
    F: Fn(&Io<'_>) -> io::Result<ReadInto> + 'static,
    K: FnOnce(io::Result<ReadInto>) + 'static,
{
    fn is_pending(&self) -> bool {
        self.wanted.get()
    }

    fn ready(self: Box<Self>) {
        if !self.wanted.get() {
            return; // given up while it waited: do not read (the data stays in the descriptor)
        }
        match self.fd.attempt(false, &self.op) {
            Attempt::Done(outcome) => {
                // The flag goes before the continuation runs, so that a read the continuation
                // starts can reuse it (see `read_into_then`).
                let RetryThen { then, wanted, .. } = *self;
                drop(wanted);
                run_continuation(then, outcome)
            }
            Attempt::Blocked(token) => engine::with(|e| e.refile_io_job(token, false, self)),
        }
    }

    fn fail(self: Box<Self>, error: io::Error) {
        let RetryThen { then, wanted, .. } = *self;
        if wanted.get() {
            drop(wanted);
            run_continuation(then, Err(error));
        }
    }
}

/// Runs a job's continuation as a callback of its result's resolution would run: what it
/// resolves with `wakeup_later` waits until it returns (it runs inside `settle`), and a panic
/// goes to the async exception hook instead of unwinding into the loop.
fn run_continuation<T>(then: impl FnOnce(io::Result<T>), outcome: io::Result<T>) {
    crate::schedule::settle(|| crate::hook::guard(move || then(outcome)));
}

/// The operation of a read into `buf[range]`, for `retry` or `read_into_then`. It may be tried
/// several times (until it stops reporting `WouldBlock`), but it gives the buffer back only
/// once: the try that does not block is the last.
fn reading_into(buf: Vec<u8>, range: Range<usize>) -> impl Fn(&Io<'_>) -> io::Result<ReadInto> {
    let slot = RefCell::new(Some(buf));
    move |io| {
        let mut slot = slot.borrow_mut();
        let buf = slot.as_mut().ok_or_else(given_back)?;
        let n = io.read(&mut buf[range.clone()])?;
        Ok((slot.take().ok_or_else(given_back)?, n))
    }
}

/// One read on a blocking file (on a pool thread), retried when interrupted by a signal.
fn read_retrying(mut file: File, buf: &mut [u8]) -> Result<usize, PoolReadError> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(PoolReadError::WouldBlock)
            }
            Err(e) => return Err(PoolReadError::Failed(e)),
        }
    }
}

/// Why a blocking-mode read on the thread pool failed.
enum PoolReadError {
    /// The descriptor is non-blocking after all (see `Fd::poll_from_now_on`).
    WouldBlock,
    /// The system's error, as a pollable descriptor's read gives it (it is `Send`, so it crosses
    /// back whole: its `kind()` and `raw_os_error()` are kept).
    Failed(io::Error),
}

/// Rejects a range that does not lie within the buffer (as Lwt_unix's `Invalid_argument`).
pub(crate) fn check_range(what: &str, buf: &[u8], range: &Range<usize>) -> Result<(), Exn> {
    if range.start <= range.end && range.end <= buf.len() {
        Ok(())
    } else {
        Err(Exn::invalid_argument(format!(
            "{what}: range {}..{} is not within a buffer of {} bytes",
            range.start,
            range.end,
            buf.len()
        )))
    }
}

/// An operation that already gave its buffer back was tried again: `retry` stops trying at
/// the first try that does not block, so this never happens; an error beats a panic anyway.
fn given_back() -> io::Error {
    io::Error::other("the buffer of this operation was already given back")
}

/// Reads of at most this many bytes go through a stack buffer (see [`Fd::read`]).
const SMALL_READ: usize = 256;

/// Reads of at most this many bytes (and more than [`SMALL_READ`]) go through the thread's
/// scratch buffer (see [`read_sized`]).
const SCRATCH_READ: usize = 64 * 1024;

thread_local! {
    /// [`read_sized`]'s buffer, grown to the largest read up to [`SCRATCH_READ`] bytes it has
    /// served on this thread (zeroed once, when it grows). Taken out for a read and put back
    /// after, so a read made during another (none is) or during the thread's teardown simply
    /// gets a buffer of its own.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `read` on a buffer of `max` bytes and returns what it read in a vector of that length,
/// whose capacity is about that length too, whatever `max` was.
///
/// `Fd::read(max)` used to allocate (and zero) `max` bytes and hand them back with the count
/// cut: a `read(65536)` that got 10 bytes kept 64 KiB, so a program that kept such reads (a
/// list of messages) used 890 MB for 20,000 of them, where Lwt, which reads into the caller's
/// buffer, used 3 MB; and every attempt that found nothing to read had allocated and zeroed
/// the whole buffer for nothing. Small reads go through a stack buffer and medium ones through
/// the thread's scratch buffer, each copied out at its size (a copy of what was read costs
/// about what zeroing the buffer did); a larger one gets a buffer of its own, shrunk to its
/// contents when they fill less than half of it.
fn read_sized<E>(
    max: usize,
    read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<Vec<u8>, E> {
    if max <= SMALL_READ {
        let mut stack = [0u8; SMALL_READ];
        let n = read(&mut stack[..max])?;
        return Ok(stack[..n].to_vec());
    }
    if max <= SCRATCH_READ {
        let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
        if scratch.len() < max {
            scratch.resize(max, 0);
        }
        let outcome = read(&mut scratch[..max]).map(|n| scratch[..n].to_vec());
        let _ = SCRATCH.try_with(|cell| cell.set(scratch));
        return outcome;
    }
    let mut buf = vec![0; max];
    let n = read(&mut buf)?;
    buf.truncate(n);
    if n < max / 2 {
        buf.shrink_to_fit();
    }
    Ok(buf)
}

/// The most one [`Fd::read`] asks the system for: its buffer is allocated up front, and a larger
/// count only risks an allocation failure (the kernel returns at most about 2 GiB per read).
pub const MAX_READ: usize = 1 << 24;
use crate::exn::Exn;
use crate::preemptive;
use crate::promise::Promise;

/// Is `f` a socket (a descriptor given to [`Fd::from_owned`] may be)?
fn is_socket(f: &File) -> bool {
    use std::os::unix::fs::FileTypeExt;
    f.metadata().is_ok_and(|m| m.file_type().is_socket())
}

pub(crate) enum Kind {
    File(File),
    Tcp(TcpStream),
    TcpListener(TcpListener),
    Unix(UnixStream),
    UnixListener(UnixListener),
}

impl Kind {
    fn raw(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Kind::File(f) => f.as_fd(),
            Kind::Tcp(s) => s.as_fd(),
            Kind::TcpListener(l) => l.as_fd(),
            Kind::Unix(s) => s.as_fd(),
            Kind::UnixListener(l) => l.as_fd(),
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            // A socket's read goes through `recv`, which fails with `EAGAIN` for zero bytes when
            // nothing is buffered; Lwt's goes through `read(2)`, which Linux answers with 0 at
            // once for a socket (`sock_read_iter`), as this does.
            Kind::Tcp(_) | Kind::Unix(_) if buf.is_empty() => Ok(0),
            Kind::File(f) => (&*f).read(buf),
            Kind::Tcp(s) => (&*s).read(buf),
            Kind::Unix(s) => (&*s).read(buf),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot read from a listening socket",
            )),
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Kind::File(f) => (&*f).write(buf),
            Kind::Tcp(s) => (&*s).write(buf),
            Kind::Unix(s) => (&*s).write(buf),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot write to a listening socket",
            )),
        }
    }
}

/// The descriptor as one try of an operation sees it. Its reads and writes notice a short
/// transfer on a TCP socket, which shows the kernel's buffer drained (or full): the try's later
/// reads (or writes) then report `WouldBlock` without a system call, and so do the next tries
/// until the reactor reports the descriptor again (see `readiness`).
pub(crate) struct Io<'a> {
    kind: &'a Kind,
    exhausted: Cell<bool>,
}

impl<'a> Io<'a> {
    /// The descriptor, for an operation that is neither a read nor a write (`accept`).
    pub(crate) fn kind(&self) -> &'a Kind {
        self.kind
    }

    #[inline]
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exhausted.get() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.kind.read(buf)?;
        self.note_transfer(n, buf.len());
        Ok(n)
    }

    #[inline]
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if self.exhausted.get() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.kind.write(buf)?;
        self.note_transfer(n, buf.len());
        Ok(n)
    }

    /// A TCP socket's receive (send) call stops short only when its buffer has no more data (no
    /// more room), or at urgent data, which the reactor reports (see `readiness`). Not for
    /// files (a terminal gives one line per read) nor Unix-domain sockets (a read stops after a
    /// message that carries descriptors, which no event tells): a short read there does not
    /// mean there is nothing left. Zero bytes (end of input, an empty buffer) prove nothing
    /// either.
    fn note_transfer(&self, n: usize, asked: usize) {
        if 0 < n && n < asked && matches!(self.kind, Kind::Tcp(_)) {
            self.exhausted.set(true);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Pollable,
    AlwaysReady,
    Blocking,
}

struct Inner {
    kind: RefCell<Option<Kind>>,
    mode: Cell<Mode>,
    token: Cell<Option<Token>>,
    /// Shared with the reactor's entry once registered (see `readiness`).
    readiness: Rc<Readiness>,
    /// The path the descriptor was opened by ([`open_file`](super::open_file)), which its
    /// operations' errors name: a bare "Is a directory (os error 21)" from a read says nothing
    /// of which of a program's files it is about.
    name: OnceCell<Box<str>>,
    /// A blocking-mode descriptor's last write sent to the thread pool, which the next one
    /// waits for: each is a job of its own, and two jobs may run on two threads at once, so
    /// writes issued back to back (which a pollable descriptor sends in order) could interleave
    /// or overtake one another.
    pool_writes: Cell<Option<Promise<()>>>,
}

/// A file descriptor owned by the loop's thread. Clones share the descriptor.
#[derive(Clone)]
pub struct Fd(Rc<Inner>);

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the file descriptor is closed")
}

/// Puts `fd` in non-blocking mode (through mio's pipe type, the one safe `fcntl` at hand).
fn set_nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    let receiver = mio::unix::pipe::Receiver::from(fd);
    receiver.set_nonblocking(true)?;
    Ok(OwnedFd::from(receiver))
}

impl Fd {
    pub(crate) fn from_kind(kind: Kind, mode: Mode) -> Fd {
        Fd(Rc::new(Inner {
            kind: RefCell::new(Some(kind)),
            mode: Cell::new(mode),
            token: Cell::new(None),
            readiness: Rc::default(),
            name: OnceCell::new(),
            pool_writes: Cell::new(None),
        }))
    }

    /// This descriptor, whose operations' errors from now on name `name` (the path it was
    /// opened by).
    pub(crate) fn named(self, name: impl fmt::Display) -> Fd {
        let _ = self.0.name.set(name.to_string().into_boxed_str());
        self
    }

    /// `e`, naming the descriptor's path if it has one. Only on the way out of a failed
    /// operation: the successful ones never look.
    #[cold]
    fn named_error(&self, e: io::Error) -> io::Error {
        match self.0.name.get() {
            Some(name) => super::naming(name, e),
            None => e,
        }
    }

    fn pollable(kind: Kind) -> Fd {
        Fd::from_kind(kind, Mode::Pollable)
    }

    /// Wraps any owned descriptor (Lwt_unix's `of_unix_file_descr`), putting it in non-blocking
    /// mode. Regular files become "always ready" descriptors (see the module docs).
    ///
    /// Lwt's `?blocking:true` (and `set_blocking`), a descriptor kept in blocking mode and used
    /// from the thread pool, is offered for the standard streams only ([`stdin`](super::stdin)
    /// and the others). `O_NONBLOCK` belongs to the open file description, which a descriptor
    /// inherited from another process shares with it: wrapping such a one makes it non-blocking
    /// for that process too.
    ///
    /// ```
    /// let file = std::fs::File::open("/dev/null").unwrap();
    /// let fd = lwt_core::unix::Fd::from_owned(file.into()).unwrap();
    /// assert_eq!(lwt_core::main::run(fd.read(10)).unwrap(), b"");
    /// ```
    pub fn from_owned(fd: OwnedFd) -> io::Result<Fd> {
        let fd = set_nonblocking(fd)?;
        Ok(Fd::pollable(Kind::File(File::from(fd))))
    }

    /// A blocking descriptor for one of the process's standard streams (0, 1 or 2), duplicated
    /// so that closing it leaves the stream open.
    pub(crate) fn std_stream(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Fd> {
        let owned = fd.try_clone_to_owned()?;
        Ok(Fd::from_kind(Kind::File(File::from(owned)), Mode::Blocking))
    }

    /// An "always ready" descriptor for a regular file.
    pub(crate) fn regular_file(file: File) -> Fd {
        Fd::from_kind(Kind::File(file), Mode::AlwaysReady)
    }

    pub(crate) fn tcp(stream: TcpStream) -> io::Result<Fd> {
        stream.set_nonblocking(true)?;
        Ok(Fd::pollable(Kind::Tcp(stream)))
    }

    pub(crate) fn tcp_listener(listener: TcpListener) -> io::Result<Fd> {
        listener.set_nonblocking(true)?;
        Ok(Fd::pollable(Kind::TcpListener(listener)))
    }

    pub(crate) fn unix(stream: UnixStream) -> io::Result<Fd> {
        stream.set_nonblocking(true)?;
        Ok(Fd::pollable(Kind::Unix(stream)))
    }

    pub(crate) fn unix_listener(listener: UnixListener) -> io::Result<Fd> {
        listener.set_nonblocking(true)?;
        Ok(Fd::pollable(Kind::UnixListener(listener)))
    }

    /// Runs `f` on the open descriptor.
    pub(crate) fn with_kind<R>(&self, f: impl FnOnce(&Kind) -> io::Result<R>) -> io::Result<R> {
        match &*self.0.kind.borrow() {
            Some(kind) => f(kind),
            None => Err(closed()),
        }
        .map_err(|e| self.named_error(e))
    }

    /// Moves a file's offset to `pos` (from its start): Lwt_unix's `lseek` with `SEEK_SET`. A
    /// pipe or a terminal fails with the system's `ESPIPE`, a socket with `NotSeekable`.
    pub(crate) fn seek_to(&self, pos: u64) -> io::Result<u64> {
        self.with_kind(|k| match k {
            Kind::File(f) => (&*f).seek(SeekFrom::Start(pos)),
            _ => Err(io::Error::new(
                io::ErrorKind::NotSeekable,
                "a socket has no position",
            )),
        })
    }

    /// The size of the file under the descriptor, for Lwt_io's `length`: `fstat`'s `st_size` for
    /// a regular file; for anything else, where Lwt's seek to the end is, with the position put
    /// back (a device: `/dev/null` gives 0, a disk its size). What cannot seek fails, as in Lwt:
    /// a pipe or a terminal with `NotSeekable` (`ESPIPE`), a socket with `Unsupported`.
    pub(crate) fn file_length(&self) -> io::Result<u64> {
        self.with_kind(|k| match k {
            Kind::File(f) => {
                let meta = f.metadata()?;
                if meta.is_file() {
                    return Ok(meta.len());
                }
                let mut f = f;
                let here = f.stream_position()?;
                let end = f.seek(SeekFrom::End(0))?;
                f.seek(SeekFrom::Start(here))?;
                Ok(end)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a socket has no length",
            )),
        })
    }

    /// The raw descriptor number, while open.
    ///
    /// ```
    /// use lwt_core::unix;
    /// let (r, _w) = unix::pipe().unwrap();
    /// assert!(r.raw_fd().unwrap() > 2);
    /// r.close().unwrap();
    /// assert_eq!(r.raw_fd(), None);
    /// ```
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.0.kind.borrow().as_ref().map(Kind::raw)
    }

    /// Is the descriptor still open?
    ///
    /// ```
    /// let (r, _w) = lwt_core::unix::pipe().unwrap();
    /// assert!(r.is_open());
    /// r.close().unwrap();
    /// assert!(!r.is_open());
    /// ```
    pub fn is_open(&self) -> bool {
        self.0.kind.borrow().is_some()
    }

    /// Registers with the reactor on first use; regular files (refused by epoll) become always
    /// ready.
    fn token(&self) -> io::Result<Option<Token>> {
        if self.0.mode.get() != Mode::Pollable {
            return Ok(None);
        }
        let token = self.register()?;
        if token.is_none() {
            self.0.mode.set(Mode::AlwaysReady);
        }
        Ok(token)
    }

    /// The descriptor's token, registering it with the reactor if it is not yet; `None` if
    /// epoll refuses it (`EPERM`: a regular file or `/dev/null`, which are always ready).
    fn register(&self) -> io::Result<Option<Token>> {
        if let Some(token) = self.0.token.get() {
            return Ok(Some(token));
        }
        let raw = self.raw_fd().ok_or_else(closed)?;
        let descriptor = Rc::downgrade(&self.0) as Weak<dyn engine::Descriptor>;
        match engine::with(|e| e.register(raw, self.0.readiness.clone(), descriptor)) {
            Ok(token) => {
                self.0.token.set(Some(token));
                Ok(Some(token))
            }
            Err(e) if e.raw_os_error() == Some(1) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What a promise waiting on this descriptor tells when it is canceled (`Inner`'s
    /// `CancelListener::canceled`): a weak link, no allocation.
    fn cancel_listener(&self) -> Weak<dyn CancelListener> {
        Rc::downgrade(&self.0) as Weak<dyn CancelListener>
    }

    /// Takes the waiters on this descriptor that no longer wait (canceled operations and waits,
    /// reads given up) out of the reactor's lists, rather than at its next readiness: they hold
    /// the descriptor open, and the loop would count them as a reason to block. Called once per
    /// waiter that dies; the lists are pruned once the dead are half of them, and always when
    /// the last live waiter dies (see `Engine::take_dead_waiters`).
    pub(crate) fn forget_dead_waiters(&self) {
        if let Some(token) = self.0.token.get() {
            let mut dead = Vec::new();
            engine::try_with(|e| dead = e.take_dead_waiters(token));
            drop(dead);
        }
    }

    fn wait(&self, write: bool) -> Promise<()> {
        let token = match self.token() {
            Ok(Some(token)) => token,
            // A blocking-mode descriptor (a standard stream) is registered for these waits
            // only: its reads and writes stay on the thread pool, and its open file description
            // stays blocking. Lwt polls its blocking descriptors for them too; resolved at once,
            // a `wait_read` on an empty stdin said there was input.
            Ok(None) if self.is_blocking() => match self.register() {
                Ok(Some(token)) => token,
                Ok(None) => return Promise::ret(()),
                Err(e) => return Promise::fail(e),
            },
            Ok(None) => return Promise::ret(()),
            Err(e) => return Promise::fail(e),
        };
        // The reactor is edge-triggered: data already waiting (or room, or a hang-up) whose event
        // was reported before makes no new one, and a wait filed now would wait for the next
        // arrival. So look first, as Lwt does (`Lwt_unix.wait_read` polls the descriptor before
        // it registers with its engine).
        match self.ready_now(write) {
            Ok(true) => Promise::ret(()),
            Ok(false) => engine::with(|e| e.wait_io(token, write, self.cancel_listener())),
            Err(e) => Promise::fail(e),
        }
    }

    /// Would a read (a write) on the descriptor not block now? One poll(2) that does not wait.
    /// An error or a hang-up counts as ready: a read or write would report it at once.
    fn ready_now(&self, write: bool) -> io::Result<bool> {
        self.0.ready_now(write)
    }

    /// Lwt_unix's `wait_read`: fulfilled when the descriptor is readable: at once if it is
    /// readable now (data is waiting, the input has ended, or it is always ready, as a regular
    /// file is), else when it becomes readable. Readable means what `poll(2)`'s `POLLIN` means:
    /// TCP urgent data alone, or another condition reported only as `POLLPRI`, does not fulfill
    /// it (as in Lwt). Cancelable. Unlike a read, a wait does not keep the descriptor open: if
    /// the last [`Fd`] handle is dropped meanwhile, the wait is rejected with
    /// [`Abandoned`](crate::Abandoned) (after [`close`](Self::close), with the closed-descriptor
    /// error).
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let ready = r.wait_read();
    /// main::run(w.write(b"xy".to_vec())).unwrap();
    /// main::run(ready).unwrap();
    /// assert_eq!(main::run(r.read(1)).unwrap(), b"x");
    /// assert!(r.wait_read().is_fulfilled()); // "y" is still there
    /// ```
    pub fn wait_read(&self) -> Promise<()> {
        self.wait(false)
    }

    /// Lwt_unix's `wait_write`: fulfilled when the descriptor is writable: at once if it is
    /// writable now, else when it becomes writable. Cancelable. As with
    /// [`wait_read`](Self::wait_read), the wait does not keep the descriptor open.
    ///
    /// ```
    /// let (_r, w) = lwt_core::unix::pipe().unwrap();
    /// lwt_core::main::run(w.wait_write()).unwrap();
    /// assert!(w.wait_write().is_fulfilled()); // the pipe still has room
    /// ```
    pub fn wait_write(&self) -> Promise<()> {
        self.wait(true)
    }

    /// Calls `op` until it does not report `WouldBlock`, waiting for readiness in between.
    ///
    /// The first try is made at once. If it would block, the operation itself is filed with the
    /// reactor as an [`IoJob`](engine::IoJob) that owns the result's resolver: readiness runs
    /// the next try directly, with no intermediate `wait_read()` promise and no bind.
    pub(crate) fn retry<T: 'static>(
        &self,
        write: bool,
        op: impl Fn(&Io<'_>) -> io::Result<T> + 'static,
    ) -> Promise<T> {
        self.retry_transfer(write, usize::MAX, op)
    }

    /// [`retry`](Self::retry) for a transfer of `len` bytes: one of zero bytes makes its system
    /// call at once, whatever the descriptor's last news (see [`attempt_after`](Self::attempt_after)).
    fn retry_transfer<T: 'static>(
        &self,
        write: bool,
        len: usize,
        op: impl Fn(&Io<'_>) -> io::Result<T> + 'static,
    ) -> Promise<T> {
        match self.attempt_after(write, len > 0, &op) {
            Attempt::Done(outcome) => Promise::of_result(outcome.map_err(Exn::from)),
            Attempt::Blocked(token) => self.retry_when_ready(token, write, op),
        }
    }

    /// [`retry`](Self::retry) past a try that would block on `token`: files the operation
    /// with the reactor, to be tried again when the descriptor is ready.
    fn retry_when_ready<T: 'static>(
        &self,
        token: Token,
        write: bool,
        op: impl Fn(&Io<'_>) -> io::Result<T> + 'static,
    ) -> Promise<T> {
        // Canceling the operation tells the descriptor, which drops the job at once: the job
        // holds the descriptor open.
        let (promise, resolver) = task_telling(self.cancel_listener());
        let job = Box::new(Retry {
            fd: self.clone(),
            write,
            op,
            resolver,
        });
        engine::with(|e| e.wait_io_job(token, write, job));
        promise
    }

    /// Tries `op` until it succeeds, fails, or would block on a pollable descriptor. Does not
    /// try while a short transfer in this direction is the last news of the descriptor.
    fn attempt<T>(&self, write: bool, op: &impl Fn(&Io<'_>) -> io::Result<T>) -> Attempt<T> {
        self.attempt_after(write, true, op)
    }

    /// [`attempt`](Self::attempt), with the short cut on an exhausted direction only if
    /// `shortcut`: a transfer of zero bytes must not take it, since the system call returns at
    /// once whatever the readiness (Lwt makes it, and returns 0), while the short cut would wait
    /// for the peer to send, or to read, which it may never do.
    fn attempt_after<T>(
        &self,
        write: bool,
        shortcut: bool,
        op: &impl Fn(&Io<'_>) -> io::Result<T>,
    ) -> Attempt<T> {
        let token = self.0.token.get();
        if let Some(token) = token {
            if shortcut && self.0.readiness.is_exhausted(write) {
                return Attempt::Blocked(token);
            }
        }
        loop {
            let (tried, exhausted) = match &*self.0.kind.borrow() {
                Some(kind) => {
                    let io = Io {
                        kind,
                        exhausted: Cell::new(false),
                    };
                    (op(&io), io.exhausted.get())
                }
                None => (Err(closed()), false),
            };
            // Kept only for a registered descriptor, whose next event clears it: an
            // unregistered one has no event to wait for yet.
            if exhausted && token.is_some() {
                self.0.readiness.set_exhausted(write);
            }
            let e = match tried {
                Ok(v) => return Attempt::Done(Ok(v)),
                Err(e) => e,
            };
            // The kind is looked up once: it decodes the error's representation each time.
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if self.is_blocking() => {
                    // Not blocking after all (see `poll_from_now_on`): wait as for a socket.
                    self.poll_from_now_on();
                    match self.token() {
                        Ok(Some(token)) => return Attempt::Blocked(token),
                        Ok(None) => return Attempt::Done(Err(self.named_error(e))),
                        Err(e) => return Attempt::Done(Err(self.named_error(e))),
                    }
                }
                io::ErrorKind::WouldBlock => match self.token() {
                    Ok(Some(token)) => return Attempt::Blocked(token),
                    Ok(None) => continue, // always ready: try again
                    Err(e) => return Attempt::Done(Err(self.named_error(e))),
                },
                _ => return Attempt::Done(Err(self.named_error(e))),
            }
        }
    }

    /// A clone of a blocking-mode descriptor's file, for a read on the thread pool.
    fn blocking_file(&self) -> io::Result<File> {
        self.with_kind(|k| match k {
            Kind::File(f) => f.try_clone(),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "blocking socket",
            )),
        })
    }

    /// Lwt_unix's `read`: at most `max` bytes (and at most [`MAX_READ`]: any count is accepted);
    /// an empty vector means end of input. Rejected with the `io::Error` if the read fails (for
    /// instance on a closed descriptor).
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// w.close().unwrap();
    /// assert_eq!(main::run(r.read(8)).unwrap(), b""); // end of input
    /// r.close().unwrap();
    /// assert!(main::run(r.read(8)).is_err()); // closed descriptor
    /// ```
    pub fn read(&self, max: usize) -> Promise<Vec<u8>> {
        let max = max.min(MAX_READ);
        if self.is_blocking() {
            // As Lwt: wait for input first (a wait that can be canceled, and holds no thread),
            // and only then read on the pool. Sent to the pool at once, a read given up (by a
            // timeout, say) kept a pool thread until input came, then read it for nobody.
            // (A read of nothing takes nothing: it is made at once, as on a pollable one.)
            if max == 0 {
                return self.read_on_pool(0);
            }
            let fd = self.clone();
            return self.wait_read().bind(move |()| fd.read_on_pool(max));
        }
        self.read_now_or_later(max)
    }

    /// [`read`](Self::read) on a blocking-mode descriptor, once it is readable.
    fn read_on_pool(&self, max: usize) -> Promise<Vec<u8>> {
        let file = match self.blocking_file() {
            Ok(file) => file,
            Err(e) => return Promise::fail(e),
        };
        let fd = self.clone();
        preemptive::detach(move || read_sized(max, |buf| read_retrying(file, buf))).bind(move |r| {
            match r {
                Ok(buf) => Promise::ret(buf),
                Err(PoolReadError::WouldBlock) => {
                    fd.poll_from_now_on();
                    fd.read(max)
                }
                Err(PoolReadError::Failed(e)) => Promise::fail(e),
            }
        })
    }

    /// [`read`](Self::read) on a pollable descriptor.
    fn read_now_or_later(&self, max: usize) -> Promise<Vec<u8>> {
        // A read that would block (the common case on a socket waiting for its peer)
        // allocates nothing up to `SCRATCH_READ` bytes, and one that succeeds allocates about
        // what it got.
        self.retry_transfer(false, max, move |io| read_sized(max, |buf| io.read(buf)))
    }

    /// Lwt_unix's `read fd buf ofs len`: reads at most `range.len()` bytes into `buf[range]`,
    /// then gives the buffer back with the number of bytes read (0: end of input, or an empty
    /// range). Nothing is allocated, so a loop that reuses one buffer reads without touching the
    /// heap.
    ///
    /// The buffer is moved into the operation for as long as it waits. If the read fails or is
    /// canceled, the buffer is dropped with it. A range outside the buffer is rejected with
    /// [`InvalidArgument`](crate::InvalidArgument) before anything is read. On a blocking-mode
    /// descriptor (the standard input) the read waits for input as a pollable one does, then runs
    /// on the thread pool, as [`read`](Self::read)'s does: as in Lwt, it can be canceled until
    /// input comes and while the read waits for a thread of the pool (nothing is read then, and
    /// the buffer is dropped), not once it reads (an empty range reads at once), and its
    /// errors arrive as the system's `io::Error`, as on a pollable one.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// main::run(w.write_all(b"ping".to_vec())).unwrap();
    /// let (buf, n) = main::run(r.read_into(vec![b'.'; 8], 2..8)).unwrap();
    /// assert_eq!((&buf[..], n), (&b"..ping.."[..], 4));
    /// assert!(main::run(r.read_into(buf, 4..9)).is_err()); // 9 > 8: rejected
    /// ```
    pub fn read_into(&self, buf: Vec<u8>, range: Range<usize>) -> Promise<(Vec<u8>, usize)> {
        if let Err(e) = check_range("Fd::read_into", &buf, &range) {
            return Promise::fail(e);
        }
        if self.is_blocking() {
            // Input first, as in `read`: a read given up while it waits takes nothing.
            if range.is_empty() {
                return self.read_into_on_pool(buf, range);
            }
            let fd = self.clone();
            return self
                .wait_read()
                .bind(move |()| fd.read_into_on_pool(buf, range));
        }
        let len = range.len();
        self.retry_transfer(false, len, reading_into(buf, range))
    }

    /// [`read_into`](Self::read_into) on a blocking-mode descriptor, once it is readable.
    fn read_into_on_pool(
        &self,
        mut buf: Vec<u8>,
        range: Range<usize>,
    ) -> Promise<(Vec<u8>, usize)> {
        let file = match self.blocking_file() {
            Ok(file) => file,
            Err(e) => return Promise::fail(e),
        };
        let fd = self.clone();
        // `Err(Ok(..))`: non-blocking after all, the buffer given back for the pollable
        // path; `Err(Err(..))`: the read failed.
        preemptive::detach(move || match read_retrying(file, &mut buf[range.clone()]) {
            Ok(n) => Ok((buf, n)),
            Err(PoolReadError::WouldBlock) => Err(Ok((buf, range))),
            Err(PoolReadError::Failed(e)) => Err(Err(e)),
        })
        .bind(move |r| match r {
            Ok(read) => Promise::ret(read),
            Err(Ok((buf, range))) => {
                fd.poll_from_now_on();
                fd.read_into(buf, range)
            }
            Err(Err(e)) => Promise::fail(e),
        })
    }

    /// [`read_into`](Self::read_into) for the runtime's own reads (an input channel's fill):
    /// the result at once when the read does not block; otherwise `None`, and `then` gets the
    /// result once the descriptor is ready (or the error of a closed one), never before this
    /// returns. No promise is made, which saves a task, its resolution and a bind per blocked
    /// read. Setting `wanted` to false gives a waiting read up: it will not read, nor call
    /// `then`, and it leaves the reactor's lists at the next [`forget_dead_waiters`] (or its
    /// next readiness), dropping its buffer and its continuation. A filed read holds a clone of
    /// `wanted` until then, or until it has read: it drops it before calling `then`.
    ///
    /// Not for blocking-mode descriptors ([`is_blocking`](Self::is_blocking)), whose reads go
    /// through the thread pool: they fail with `Unsupported`. The range must lie within `buf`.
    ///
    /// [`forget_dead_waiters`]: Self::forget_dead_waiters
    pub(crate) fn read_into_then(
        &self,
        buf: Vec<u8>,
        range: Range<usize>,
        wanted: Rc<Cell<bool>>,
        then: impl FnOnce(io::Result<ReadInto>) + 'static,
    ) -> Option<io::Result<ReadInto>> {
        debug_assert!(range.start <= range.end && range.end <= buf.len());
        self.read_then_with(reading_into(buf, range), wanted, then)
    }

    /// [`read_into_then`](Self::read_into_then) of at most `max` bytes into a buffer of the
    /// read's own, allocated by each try as [`read`](Self::read)'s is (so a read that waits
    /// holds no buffer): the buffer comes back with the count.
    pub(crate) fn read_then(
        &self,
        max: usize,
        wanted: Rc<Cell<bool>>,
        then: impl FnOnce(io::Result<ReadInto>) + 'static,
    ) -> Option<io::Result<ReadInto>> {
        let max = max.min(MAX_READ);
        let op = move |io: &Io<'_>| {
            let mut buf = vec![0; max];
            let n = io.read(&mut buf)?;
            Ok((buf, n))
        };
        self.read_then_with(op, wanted, then)
    }

    fn read_then_with<F>(
        &self,
        op: F,
        wanted: Rc<Cell<bool>>,
        then: impl FnOnce(io::Result<ReadInto>) + 'static,
    ) -> Option<io::Result<ReadInto>>
    where
        F: Fn(&Io<'_>) -> io::Result<ReadInto> + 'static,
    {
        if self.is_blocking() {
            return Some(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "read_into_then on a blocking-mode descriptor",
            )));
        }
        match self.attempt(false, &op) {
            Attempt::Done(outcome) => Some(outcome),
            Attempt::Blocked(token) => {
                let job = Box::new(RetryThen {
                    fd: self.clone(),
                    op,
                    then,
                    wanted,
                });
                if engine::with(|e| e.file_io_job(token, false, job)) {
                    None
                } else {
                    Some(Err(io::Error::from(io::ErrorKind::NotConnected)))
                }
            }
        }
    }

    /// Is this a blocking-mode descriptor (the process's standard streams), whose reads go
    /// through the thread pool?
    pub(crate) fn is_blocking(&self) -> bool {
        self.0.mode.get() == Mode::Blocking
    }

    /// A blocking-mode descriptor (a standard stream) answered `EAGAIN`: its open file
    /// description is non-blocking after all (`O_NONBLOCK` belongs to the description, which
    /// the process shares with whoever else holds it, a parent that set it say). Polling is then
    /// the way to wait for it, as Lwt does for its blocking descriptors (`wait_read` or
    /// `wait_write` first): from now on it is used as a pollable descriptor. Trying again at
    /// once instead spun the loop's thread on `EAGAIN`; trying from the thread pool failed.
    fn poll_from_now_on(&self) {
        if self.is_blocking() {
            self.0.mode.set(Mode::Pollable);
        }
    }

    /// Lwt_unix's `write`: writes some of `data` and gives how many bytes were written. Writing
    /// to a pipe whose reader is gone is rejected with `BrokenPipe` (Rust programs ignore
    /// SIGPIPE, so the process is not killed).
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// drop(r);
    /// let e = main::run(w.write(b"lost".to_vec())).unwrap_err();
    /// assert_eq!(e.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::BrokenPipe);
    /// ```
    pub fn write(&self, data: Vec<u8>) -> Promise<usize> {
        if self.is_blocking() {
            let len = data.len();
            return self
                .write_range_on_pool(data, 0..len, false)
                .map(|(_, n)| n);
        }
        self.retry_transfer(true, data.len(), move |io| io.write(&data))
    }

    /// Lwt_unix's `write fd buf ofs len`: writes some of `buf[range]`, then gives the buffer back
    /// with the number of bytes written. As with [`read_into`](Self::read_into), the buffer is
    /// dropped if the write fails or is canceled, and a range outside it is rejected with
    /// [`InvalidArgument`](crate::InvalidArgument).
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let (buf, n) = main::run(w.write_from(b"a ping".to_vec(), 2..6)).unwrap();
    /// assert_eq!((&buf[..], n), (&b"a ping"[..], 4));
    /// assert_eq!(main::run(r.read(8)).unwrap(), b"ping");
    /// ```
    pub fn write_from(&self, buf: Vec<u8>, range: Range<usize>) -> Promise<(Vec<u8>, usize)> {
        if let Err(e) = check_range("Fd::write_from", &buf, &range) {
            return Promise::fail(e);
        }
        if self.is_blocking() {
            return self.write_range_on_pool(buf, range, false);
        }
        let slot = RefCell::new(Some(buf));
        self.retry_transfer(true, range.len(), move |io| {
            let mut slot = slot.borrow_mut();
            let buf = slot.as_ref().ok_or_else(given_back)?;
            let n = io.write(&buf[range.clone()])?;
            Ok((slot.take().ok_or_else(given_back)?, n))
        })
    }

    /// One try at writing `data` now, from the caller's own buffer: the count (or the error)
    /// when the descriptor took the write or refused it, or the token to wait on when it would
    /// block (then [`write_shared_when_ready`](Self::write_shared_when_ready) waits). For an
    /// output channel, which shares its buffer with a write only when the write must wait.
    pub(crate) fn write_now(&self, data: &[u8]) -> Attempt<usize> {
        self.attempt(true, &|io: &Io<'_>| io.write(data))
    }

    /// Writes some of `data[range]` once the descriptor is ready, after a
    /// [`write_now`](Self::write_now) that would block on `token`, and gives how many bytes were
    /// written: the output channels' write, with no copy of their buffer. The caller keeps its
    /// own handle on `data`, so the bytes are still there if the write fails or is canceled.
    /// `range` must lie within `data`.
    pub(crate) fn write_shared_when_ready(
        &self,
        token: Token,
        data: Rc<Vec<u8>>,
        range: Range<usize>,
    ) -> Promise<usize> {
        self.retry_when_ready(token, true, move |io| io.write(&data[range.clone()]))
    }

    /// Writes some of `data` from the thread pool, for a blocking-mode descriptor (the standard
    /// output and error): [`write_range_on_pool`](Self::write_range_on_pool) of a copy.
    pub(crate) fn write_on_pool(&self, data: &[u8]) -> Promise<usize> {
        let len = data.len();
        self.write_range_on_pool(data.to_vec(), 0..len, false)
            .map(|(_, n)| n)
    }

    /// Writes `data[range]` from the thread pool, once (`all` false: one write, whose count is
    /// given) or until all of it is written, and gives `data` back with the count: the writes
    /// to a blocking-mode descriptor (the standard output and error), as Lwt_unix's `write`
    /// does on a blocking descriptor (`wait_write`, then a job), so that a reader that does not
    /// keep up blocks a pool thread, not the loop. Each waits for the descriptor's write before
    /// it (`pool_writes`), so writes keep their order and a stalled reader holds one pool
    /// thread, not all of them. Not cancelable, the rest written the pollable way after an
    /// `EAGAIN` included (the job runs to its end, as Lwt's); the `io::Error` keeps its kind.
    /// `range` must lie within `data`.
    fn write_range_on_pool(
        &self,
        data: Vec<u8>,
        range: Range<usize>,
        all: bool,
    ) -> Promise<(Vec<u8>, usize)> {
        let fd = self.clone();
        let write = move || fd.write_range_on_pool_now(data, range, all);
        let written = match self.0.pool_writes.take() {
            Some(previous) if previous.is_pending() => previous.then(move |_| write()),
            _ => write(),
        }
        .no_cancel();
        let done = written.clone().then(|_| Promise::ret(()));
        self.0.pool_writes.set(Some(done));
        written
    }

    /// [`write_range_on_pool`](Self::write_range_on_pool) once the writes before it are done.
    fn write_range_on_pool_now(
        &self,
        data: Vec<u8>,
        range: Range<usize>,
        all: bool,
    ) -> Promise<(Vec<u8>, usize)> {
        let mut file = match self.blocking_file() {
            Ok(file) => file,
            Err(e) => return Promise::fail(e),
        };
        let fd = self.clone();
        // The job's outcome: `Ok(())` once done, `Err(None)` if the descriptor is non-blocking
        // after all (the rest goes the pollable way), `Err(Some(e))` if a write failed.
        // `no_cancel`: a cancel would withdraw the job while it waits for a thread, and this
        // write stays what it is documented to be, one that runs to its end.
        preemptive::detach(move || {
            let mut written = 0;
            let outcome = loop {
                if written == range.len() {
                    break Ok(());
                }
                match file.write(&data[range.start + written..range.end]) {
                    Ok(0) => break Err(Some(io::Error::from(io::ErrorKind::WriteZero))),
                    Ok(n) => {
                        written += n;
                        if !all {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Err(None),
                    Err(e) => break Err(Some(e)),
                }
            };
            (data, range, written, outcome)
        })
        .no_cancel()
        .bind(move |(data, range, written, outcome)| match outcome {
            Ok(()) => Promise::ret((data, written)),
            Err(Some(e)) => Promise::fail(e),
            // Non-blocking after all (see `poll_from_now_on`): the rest is written when there
            // is room, by the pollable path.
            Err(None) => {
                fd.poll_from_now_on();
                let rest = range.start + written..range.end;
                if all {
                    let len = range.len();
                    fd.write_all(data[rest].to_vec()).map(move |()| (data, len))
                } else {
                    fd.write_from(data, rest)
                        .map(move |(data, n)| (data, written + n))
                }
            }
        })
    }

    /// Writes all of `data`, in as many writes as it takes.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// main::run(w.write_all(vec![7; 100])).unwrap();
    /// assert_eq!(main::run(r.read(1000)).unwrap().len(), 100);
    /// ```
    pub fn write_all(&self, data: Vec<u8>) -> Promise<()> {
        if self.is_blocking() {
            let len = data.len();
            return self.write_range_on_pool(data, 0..len, true).map(|_| ());
        }
        // Written in place, from where the last write stopped: the progress lives in the
        // operation, so a write that would block resumes there when the reactor says so.
        let written = Cell::new(0);
        // `retry_transfer` with the length: writing all of nothing makes no system call and
        // must not wait behind a short write's `write_exhausted` for a peer that may never read.
        self.retry_transfer(true, data.len(), move |io| {
            while written.get() < data.len() {
                let n = io.write(&data[written.get()..])?;
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                written.set(written.get() + n);
            }
            Ok(())
        })
    }

    /// Lwt_unix's `shutdown` for sockets, also those wrapped by [`from_owned`](Fd::from_owned).
    ///
    /// ```
    /// let (a, b) = lwt_core::unix::socketpair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert_eq!(lwt_core::main::run(b.read(4)).unwrap(), b"");
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.with_kind(|k| match k {
            Kind::Tcp(s) => s.shutdown(how),
            Kind::Unix(s) => s.shutdown(how),
            Kind::File(f) if is_socket(f) => {
                // A socket given to `from_owned`, of any domain. `shutdown(2)` acts on the
                // socket, not the descriptor, so it goes through a duplicate that the standard
                // library can call it on (for any domain: the call is the same).
                let dup = OwnedFd::from(f.try_clone()?);
                UnixStream::from(dup).shutdown(how)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "shutdown: not a connected socket",
            )),
        })
    }

    /// Sets or reads a socket option with `call`. A closed descriptor fails as every operation
    /// on it does. The system's errors name the method (`set_linger: ...`), and keep their OS
    /// error number (see [`NamedError`](super::NamedError)); `ENOTSOCK`, whose kind is
    /// `Uncategorized` (which no caller can match on), is `InvalidInput`, as
    /// [`shutdown`](Fd::shutdown)'s error for a descriptor that is not a socket is.
    fn socket_option<R>(
        &self,
        method: &str,
        call: impl FnOnce(BorrowedFd<'_>) -> rustix::io::Result<R>,
    ) -> io::Result<R> {
        self.with_kind(|k| {
            call(k.as_fd()).map_err(|errno| {
                let e = io::Error::from(errno);
                let kind = if errno == rustix::io::Errno::NOTSOCK {
                    io::ErrorKind::InvalidInput
                } else {
                    e.kind()
                };
                super::naming_as(kind, method, e)
            })
        })
    }

    /// Turns Nagle's algorithm off (`true`) or back on (`false`): `TCP_NODELAY`, Lwt_unix's
    /// `setsockopt fd TCP_NODELAY`. Small writes then leave at once instead of waiting to be
    /// gathered. For TCP sockets only: a Unix-domain socket fails with `Unsupported`, a
    /// descriptor that is not a socket with `InvalidInput`, a closed one with `NotConnected`.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    /// let conn = main::run(unix::connect_tcp(listener.local_addr().unwrap())).unwrap();
    /// conn.set_nodelay(true).unwrap();
    /// assert!(conn.nodelay().unwrap());
    /// let (r, _w) = unix::pipe().unwrap();
    /// let e = r.set_nodelay(true).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket_option("set_nodelay", |fd| {
            rustix::net::sockopt::set_tcp_nodelay(fd, on)
        })
    }

    /// Is Nagle's algorithm off (`TCP_NODELAY`)? See [`set_nodelay`](Fd::set_nodelay), whose
    /// errors this shares.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    /// let conn = main::run(unix::connect_tcp(listener.local_addr().unwrap())).unwrap();
    /// assert!(!conn.nodelay().unwrap()); // The system's default: Nagle on.
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket_option("nodelay", |fd| rustix::net::sockopt::tcp_nodelay(fd))
    }

    /// `SO_LINGER`, Lwt_unix's `setsockopt_optint fd SO_LINGER`: with `Some(time)`, a
    /// [`close`](Fd::close) with data still unsent waits until it is sent or `time` has passed
    /// (on Linux even for a non-blocking socket, so the whole main loop waits: keep it short);
    /// `Some(Duration::ZERO)` resets the connection at once, the data dropped. With `None` (the
    /// default), the close returns at once and the system sends the data in the background.
    /// The time is in whole seconds, rounded up. Any socket; a descriptor that is not one fails
    /// with `InvalidInput`, a closed one with `NotConnected`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = lwt_core::unix::socketpair().unwrap();
    /// assert_eq!(a.linger().unwrap(), None);
    /// a.set_linger(Some(Duration::from_millis(1500))).unwrap();
    /// assert_eq!(a.linger().unwrap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn set_linger(&self, time: Option<Duration>) -> io::Result<()> {
        self.socket_option("set_linger", |fd| {
            rustix::net::sockopt::set_socket_linger(fd, time)
        })
    }

    /// The socket's `SO_LINGER` time, `None` when it is off. See
    /// [`set_linger`](Fd::set_linger), whose errors this shares.
    ///
    /// ```
    /// let (a, _b) = lwt_core::unix::socketpair().unwrap();
    /// a.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    /// assert_eq!(a.linger().unwrap(), Some(std::time::Duration::ZERO));
    /// ```
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.socket_option("linger", |fd| rustix::net::sockopt::socket_linger(fd))
    }

    /// `SO_KEEPALIVE`, Lwt_unix's `setsockopt fd SO_KEEPALIVE`: the system probes a connection
    /// that has been idle a long time (two hours by default on Linux) and fails its reads once
    /// the peer stops answering. Any socket; a descriptor that is not one fails with
    /// `InvalidInput`, a closed one with `NotConnected`.
    ///
    /// ```
    /// let (a, _b) = lwt_core::unix::socketpair().unwrap();
    /// a.set_keepalive(true).unwrap();
    /// assert!(a.keepalive().unwrap());
    /// ```
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.socket_option("set_keepalive", |fd| {
            rustix::net::sockopt::set_socket_keepalive(fd, on)
        })
    }

    /// Is `SO_KEEPALIVE` on? See [`set_keepalive`](Fd::set_keepalive), whose errors this shares.
    ///
    /// ```
    /// let (a, _b) = lwt_core::unix::socketpair().unwrap();
    /// assert!(!a.keepalive().unwrap());
    /// ```
    pub fn keepalive(&self) -> io::Result<bool> {
        self.socket_option("keepalive", |fd| rustix::net::sockopt::socket_keepalive(fd))
    }

    /// Lwt_unix's `close`: deregisters and closes the descriptor (all clones see it closed).
    /// Pending waits on it are rejected with the `io::Error` of a closed descriptor, the error
    /// an operation started after the close gets: of kind `NotConnected`, saying "the file
    /// descriptor is closed" (after the path, for a file opened by path), with no OS error
    /// number, since no system call failed (Lwt's is `Unix_error (EBADF, ..)`, whose kind in
    /// Rust would be `Uncategorized`). Closing twice is an error.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let (r, _w) = unix::pipe().unwrap();
    /// r.close().unwrap();
    /// assert!(r.close().is_err());
    /// let e = main::run(r.read(8)).unwrap_err();
    /// let e = e.downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
    /// assert_eq!(e.to_string(), "the file descriptor is closed");
    /// ```
    pub fn close(&self) -> io::Result<()> {
        let kind = self.0.kind.borrow_mut().take();
        let kind = kind.ok_or_else(|| self.named_error(closed()))?;
        let waiters = match self.0.token.take() {
            Some(token) => engine::with(|e| e.deregister(kind.raw(), token)),
            None => Vec::new(),
        };
        drop(kind);
        // Rejected once the descriptor is closed, with no borrow held: their callbacks may use
        // this `Fd` and must find it closed.
        // Every waiter, even if a panicking async exception hook unwinds out of one.
        crate::schedule::each_resolving(waiters, |waiter| waiter.fail(self.named_error(closed())));
        Ok(())
    }
}

impl Inner {
    /// See [`Fd::ready_now`].
    fn ready_now(&self, write: bool) -> io::Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let kind = self.kind.borrow();
        let kind = kind.as_ref().ok_or_else(closed)?;
        let flags = if write { PollFlags::OUT } else { PollFlags::IN };
        let mut fds = [PollFd::from_borrowed_fd(kind.as_fd(), flags)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            match poll(&mut fds, Some(&now)) {
                Ok(n) => return Ok(n > 0),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl engine::Descriptor for Inner {
    fn readable_now(&self) -> bool {
        // Borrowed elsewhere (never during a poll today), closed or failing: let the readers
        // see for themselves.
        self.kind.try_borrow_mut().is_err() || self.ready_now(false).unwrap_or(true)
    }

    fn close_at_exit(&self) {
        if let Ok(mut kind) = self.kind.try_borrow_mut() {
            drop(kind.take());
        }
    }
}

impl CancelListener for Inner {
    /// An operation or a `wait_read`/`wait_write` waiting on this descriptor was canceled: it
    /// leaves the reactor's list now, so that an operation's job does not keep the descriptor
    /// open after the last handle is dropped, and so that the loop does not count it as a
    /// reason to block (it reports instead that nothing can resolve `run`'s promise).
    fn canceled(self: Rc<Self>) {
        Fd(self).forget_dead_waiters();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let (Some(kind), Some(token)) = (self.kind.get_mut().as_ref(), self.token.get()) {
            let raw = kind.raw();
            // The last handle is gone (this may run during thread teardown): the waiters are
            // dropped, which rejects their promises with `Abandoned`.
            engine::try_with(|e| drop(e.deregister(raw, token)));
        }
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fd")
            .field("fd", &self.raw_fd())
            .field("mode", &self.0.mode.get())
            .field("name", &self.0.name.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// Found by review (session 24): each cancel of a wait on a descriptor scanned (and
    /// rebuilt) the descriptor's whole list of waiters, so canceling n waits cost O(n²): 7.9 s
    /// for 50,000. The lists are now pruned once the dead are half of them: the waiters looked
    /// at over n cancels stay within a small multiple of n, and none is left behind.
    #[test]
    fn canceling_many_waits_on_one_descriptor_does_linear_work() {
        const N: usize = 10_000;
        let (r, _w) = pipe().unwrap();
        let waits: Vec<_> = (0..N).map(|_| r.wait_read()).collect();
        let before = crate::engine::with(|e| e.dead_scan.get());
        for w in &waits {
            w.cancel();
        }
        let scanned = crate::engine::with(|e| e.dead_scan.get()) - before;
        assert!(
            scanned <= 4 * N,
            "{scanned} waiters looked at for {N} cancels"
        );
        // Nothing is left waiting: `run` reports that nothing can resolve a new, idle task.
        assert!(crate::main::run(crate::task::<()>().0).is_err());
    }

    use crate::main;
    use crate::unix::pipe;

    type Read = std::io::Result<(Vec<u8>, usize)>;
    type Got = Rc<RefCell<Vec<Read>>>;

    fn wanted() -> Rc<Cell<bool>> {
        Rc::new(Cell::new(true))
    }

    fn recorder() -> (Got, impl FnOnce(Read) + 'static) {
        let got: Got = Rc::default();
        let sink = got.clone();
        (got, move |read| sink.borrow_mut().push(read))
    }

    #[test]
    fn read_into_then_gives_a_ready_read_at_once_and_a_blocked_one_later() {
        let (r, w) = pipe().unwrap();
        main::run(w.write(b"abc".to_vec())).unwrap();
        let (got, then) = recorder();
        let (buf, n) = r
            .read_into_then(vec![0; 8], 2..8, wanted(), then)
            .unwrap()
            .unwrap();
        assert_eq!((&buf[2..2 + n], got.borrow().len()), (&b"abc"[..], 0));

        // Nothing to read: filed, and the continuation runs only once data comes.
        let (got, then) = recorder();
        assert!(r.read_into_then(vec![0; 4], 0..4, wanted(), then).is_none());
        assert!(got.borrow().is_empty(), "ran before returning");
        main::run(w.write(b"xy".to_vec())).unwrap();
        main::run(main::pause()).unwrap();
        let (buf, n) = got.borrow_mut().pop().unwrap().unwrap();
        assert_eq!(&buf[..n], b"xy");
    }

    #[test]
    fn a_read_given_up_neither_reads_nor_calls_back_and_leaves_the_reactor() {
        let (r, w) = pipe().unwrap();
        let (got, then) = recorder();
        let wanted = wanted();
        assert!(r
            .read_into_then(vec![0; 4], 0..4, wanted.clone(), then)
            .is_none());
        wanted.set(false);
        r.forget_dead_waiters();
        // Nothing waits on the loop any more: `run` says so instead of polling for ever.
        let (never, _keep) = crate::wait::<()>();
        assert!(main::run(never).is_err());
        main::run(w.write(b"xy".to_vec())).unwrap();
        main::run(main::pause()).unwrap();
        assert!(got.borrow().is_empty(), "called back after it was given up");
        assert_eq!(
            main::run(r.read(8)).unwrap(),
            b"xy",
            "the data stayed for the next read"
        );
    }

    #[test]
    fn read_into_then_gives_the_error_of_a_closed_descriptor() {
        // Closed before: at once. Closed while it waits: through the continuation.
        let (r, _w) = pipe().unwrap();
        let (got, then) = recorder();
        assert!(r.read_into_then(vec![0; 4], 0..4, wanted(), then).is_none());
        r.close().unwrap();
        let e = got.borrow_mut().pop().unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
        let (got, then) = recorder();
        let e = r
            .read_into_then(vec![0; 4], 0..4, wanted(), then)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (e.kind(), got.borrow().len()),
            (std::io::ErrorKind::NotConnected, 0)
        );
    }
}
