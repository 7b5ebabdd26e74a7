//! [`OutputChannel`]: buffered, auto-flushed writing (Lwt_io's `output_channel`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};

use super::error::ChannelClosed;
use super::lock::{may_run_at_once, serialized, Lock};
use super::owner::Owner;
use super::{Channel, DEFAULT_BUFFER_SIZE};
use crate::engine::PausedWork;
use crate::exn::Exn;
use crate::main::pause_then;
use crate::promise::Promise;
use crate::resolver::{task, Resolver};
use crate::unix::fd::Attempt;
use crate::unix::Fd;

/// The largest single write system call a channel makes.
const MAX_WRITE: usize = 1 << 16;

/// A buffered output channel (Lwt_io's `output_channel`) over a file descriptor.
///
/// Writes go to a buffer and their promises resolve as soon as the data is there. The buffer is
/// written out ("flushed"):
///
/// * automatically, at the next iteration of the loop after a write (once per burst of writes,
///   not once per write), as Lwt does;
/// * when a write does not fit in the buffer;
/// * by [`flush`](OutputChannel::flush) and [`close`](OutputChannel::close).
///
/// [`flushed`](OutputChannel::flushed) waits for the automatic flush; [`print`](super::print())
/// and friends use it, so `main::run(io::printl("hi"))` has printed `hi` when it returns.
///
/// Operations run one at a time, in the order they were called, so writes keep their order.
///
/// A channel is a cheap handle: clones share it. When the last handle is dropped, the
/// descriptor is closed once the automatic flush that the last write scheduled has run (at the
/// loop's next turn, or in the exit hooks); nothing can report that flush's failure then, so
/// [`close`](OutputChannel::close) a channel whose bytes matter. A handle bound to `_name` in
/// `lwt!` and never used again is dropped when the code before the block's first pending wait
/// returns, not at the end of the block (see the macro's docs, "When values are dropped").
///
/// If writing fails (a pipe whose reader is gone: `BrokenPipe`, a reset connection...), the
/// error is reported to the operation that was writing, and the channel keeps it: every later
/// operation is rejected with it, and the bytes that were not written stay counted in
/// [`buffered`](OutputChannel::buffered). Nothing is dropped silently: if only the automatic
/// flush saw the error, [`close`](OutputChannel::close) reports it.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(oc.write_line("buffered")).unwrap();
/// assert_eq!(oc.buffered(), 9); // written to the buffer, not yet to the pipe
/// let line = ic.read_line();
/// assert_eq!(main::run(line).unwrap(), "buffered"); // the loop flushed it
/// assert_eq!(oc.buffered(), 0);
/// ```
#[derive(Clone)]
pub struct OutputChannel(Rc<Output>);

struct Output {
    owner: Owner,
    buf: RefCell<Vec<u8>>,
    size: usize,
    /// Bytes accepted by writes since the channel was made.
    accepted: Cell<u64>,
    /// Bytes handed to the descriptor since the channel was made.
    written: Cell<u64>,
    /// Bytes of a write to the descriptor in progress, taken out of the buffer and not yet
    /// written: still the channel's, so [`buffered`](OutputChannel::buffered) counts them, as
    /// Lwt's buffer keeps them until its write returns.
    in_flight: Cell<usize>,
    /// `flushed()` callers: (how many bytes must be written, resolver), in increasing order.
    waiters: RefCell<VecDeque<(u64, Resolver<()>)>>,
    auto_flush: Cell<bool>,
    error: RefCell<Option<Exn>>,
    /// Has the stored error been handed to a caller?
    error_reported: Cell<bool>,
    /// `close` has started: no new operation is accepted.
    closed: Cell<bool>,
    /// `close` has finished: the descriptor is closed, and bytes still buffered never will be
    /// written.
    close_done: Cell<bool>,
    /// `abort` was called: a close called before it, which never got to write the buffer out,
    /// is rejected rather than fulfilled as if it had.
    aborted: Cell<bool>,
    lock: Rc<Lock>,
}

thread_local! {
    /// This thread's output channels, weakly: one exit hook flushes those still alive, as Lwt
    /// flushes every open output channel at exit.
    static OUTPUTS: RefCell<Outputs> = RefCell::new(Outputs::default());
    /// The exit hook that flushes them is registered. A run of the exit hooks consumes it; the
    /// next channel made, or the next write into a buffer, registers it again (so a second
    /// [`run_exit_hooks`](crate::main::run_exit_hooks) flushes what was written since the first,
    /// in channels made before it too).
    static HOOKED: Cell<bool> = const { Cell::new(false) };
}

/// Registers the exit hook that flushes this thread's channels, unless it is.
fn ensure_hooked() {
    if !HOOKED.with(|h| h.replace(true)) {
        // Last, as Lwt's `flush_all` is in effect (registered with `at_exit` when Lwt_io is
        // initialized, before any hook of the program): the exit hooks registered before it run
        // first, and what they write is flushed too.
        crate::main::add_exit_hook_last(exit_flush);
    }
}

#[derive(Default)]
struct Outputs {
    channels: Vec<Weak<Output>>,
    /// Dead entries are swept when the list reaches this length (then set to twice the live
    /// count), so the list stays within about twice the live channels.
    sweep_at: usize,
}

impl Outputs {
    fn add(&mut self, channel: &Rc<Output>) {
        ensure_hooked();
        if self.channels.len() >= self.sweep_at {
            self.channels.retain(|w| w.strong_count() > 0);
            self.sweep_at = (self.channels.len() * 2).max(16);
        }
        self.channels.push(Rc::downgrade(channel));
    }
}

/// The exit hook: [`flush_all`], which this run of the exit hooks consumes (see `HOOKED`).
fn exit_flush() -> Promise<()> {
    HOOKED.with(|h| h.set(false));
    flush_all()
}

/// Lwt_io's `flush_all`: flushes every output channel of this thread still open, all at once.
/// A channel that cannot be flushed (closed, broken: its own operations report why) is skipped,
/// so the promise is always fulfilled, when every flush has ended. The exit hooks do this too
/// (see [`main::exit`](crate::main::exit)). A failure is kept in its channel as the automatic
/// flush's is, unreported: the channel's next operation, or its
/// [`close`](OutputChannel::close), reports it. (Lwt's `flush_all` drops it.)
///
/// ```
/// use lwt_core::{io, main, unix};
///
/// let (r, w) = unix::pipe().unwrap();
/// let oc = io::OutputChannel::of_fd(w);
/// main::run(oc.write("buffered")).unwrap();
/// assert_eq!(oc.buffered(), 8); // the automatic flush has not run yet
/// main::run(io::flush_all()).unwrap();
/// assert_eq!(oc.buffered(), 0);
/// assert_eq!(main::run(r.read(64)).unwrap(), b"buffered");
/// ```
pub fn flush_all() -> Promise<()> {
    let live: Vec<OutputChannel> = OUTPUTS.with(|o| {
        o.borrow()
            .channels
            .iter()
            .filter_map(Weak::upgrade)
            .map(OutputChannel)
            .collect()
    });
    crate::combinators::join(
        live.iter()
            .map(|oc| oc.flush_unreported().catch(|_| Promise::ret(()))),
    )
}

impl OutputChannel {
    pub(crate) fn new(owner: Owner, buffer_size: usize) -> OutputChannel {
        let oc = OutputChannel::unregistered(owner, buffer_size);
        OUTPUTS.with(|o| o.borrow_mut().add(&oc.0));
        oc
    }

    fn unregistered(owner: Owner, buffer_size: usize) -> OutputChannel {
        let size = buffer_size.max(1);
        OutputChannel(Rc::new(Output {
            owner,
            buf: RefCell::new(Vec::new()),
            size,
            accepted: Cell::new(0),
            written: Cell::new(0),
            in_flight: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            auto_flush: Cell::new(false),
            error: RefCell::new(None),
            error_reported: Cell::new(false),
            closed: Cell::new(false),
            close_done: Cell::new(false),
            aborted: Cell::new(false),
            lock: Rc::default(),
        }))
    }

    /// Lwt_io's `of_fd ~mode:Output`: a channel writing to `fd`, with a buffer of
    /// [`DEFAULT_BUFFER_SIZE`] bytes. Closing the channel closes `fd`.
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let oc = io::OutputChannel::of_fd(w);
    /// main::run(oc.write("hi").bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(r.read(10)).unwrap(), b"hi");
    /// ```
    pub fn of_fd(fd: Fd) -> OutputChannel {
        OutputChannel::with_buffer_size(fd, DEFAULT_BUFFER_SIZE)
    }

    /// Like [`of_fd`](OutputChannel::of_fd), with a buffer of `buffer_size` bytes (at least 1).
    /// A write that does not fit in the buffer writes the buffer and itself out at once (Lwt
    /// writes whole buffers and keeps the rest buffered: a difference on purpose, see the
    /// [module docs](super)).
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let oc = io::OutputChannel::with_buffer_size(w, 4);
    /// main::run(oc.write("abcdef")).unwrap(); // too big for the buffer: written out
    /// assert_eq!(oc.buffered(), 0);
    /// assert_eq!(main::run(r.read(10)).unwrap(), b"abcdef");
    /// ```
    pub fn with_buffer_size(fd: Fd, buffer_size: usize) -> OutputChannel {
        OutputChannel::new(Owner::Fd(fd), buffer_size)
    }

    /// Lwt_io's `position`: how many bytes the program has written to the channel since it was
    /// made (those still [`buffered`](OutputChannel::buffered) included).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (_ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("abc").bind({ let oc = oc.clone(); move |()| oc.flush() })).unwrap();
    /// main::run(oc.write_line("de")).unwrap();
    /// assert_eq!(oc.position(), 6);
    /// assert_eq!(oc.buffered(), 3);
    /// ```
    pub fn position(&self) -> u64 {
        self.0.accepted.get()
    }

    /// How many bytes have reached the descriptor so far: the progress a close watches for
    /// (see `net::close_connection`).
    pub(super) fn written_out(&self) -> u64 {
        self.0.written.get()
    }

    /// Lwt_io's `set_position`: after the operations already started, writes the buffer out,
    /// then moves the descriptor to byte `pos` of the file; the next bytes written go there,
    /// and [`position`](OutputChannel::position) is `pos`. Rejected with the flush's error,
    /// with the system's error on a pipe or a terminal (`ESPIPE`), with `NotSeekable` on a
    /// socket, or with [`ChannelClosed`] once the channel is closed.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let path = std::env::temp_dir().join(format!("lwt-out-position-doc-{}", std::process::id()));
    /// let oc = main::run(io::open_file(&path, io::Output)).unwrap();
    /// main::run(oc.write("hello world")).unwrap();
    /// main::run(oc.set_position(6)).unwrap();
    /// main::run(oc.write("there").bind({ let oc = oc.clone(); move |()| oc.close() })).unwrap();
    /// assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello there");
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn set_position(&self, pos: u64) -> Promise<()> {
        let me = self.clone();
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("output"));
            }
            me.flush_buffer(true).bind(move |()| {
                if let Err(e) = me.0.owner.seek_to(pos) {
                    return Promise::fail(e);
                }
                // The buffer is empty and every `flushed` waiter was woken by the flush: the
                // counts start again from the new position.
                me.0.accepted.set(pos);
                me.0.written.set(pos);
                Promise::ret(())
            })
        })
    }

    /// Lwt_io's `length`: after the operations already started, the size of the file the
    /// channel writes, in bytes, as the system sees it: bytes still
    /// [`buffered`](OutputChannel::buffered) are not counted (flush first); for a device, where
    /// a seek to its end is. Rejected with `NotSeekable` on a pipe or a terminal, `Unsupported` on a socket, and [`ChannelClosed`]
    /// once the channel is closed.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let path = std::env::temp_dir().join(format!("lwt-out-length-doc-{}", std::process::id()));
    /// let oc = main::run(io::open_file(&path, io::Output)).unwrap();
    /// main::run(oc.write("abc")).unwrap();
    /// assert_eq!(main::run(oc.length()).unwrap(), 0);
    /// main::run(oc.flush()).unwrap();
    /// assert_eq!(main::run(oc.length()).unwrap(), 3);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn length(&self) -> Promise<u64> {
        let me = self.clone();
        // Under the lock, as Lwt's (a primitive there): it waits for the writes before it, and a
        // closed channel is `ChannelClosed`, not the error of its closed descriptor.
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("output"));
            }
            Promise::of_result(me.0.owner.file_length())
        })
    }

    /// How many bytes the channel holds, not yet written to the descriptor (Lwt_io's
    /// `buffered`): those in the buffer and those of a flush still waiting for the descriptor.
    /// After a write error, the bytes that could not be written.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (_ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("abc")).unwrap();
    /// assert_eq!(oc.buffered(), 3);
    /// // More than the pipe takes, and nobody reads: the rest waits for the descriptor.
    /// let write = oc.write(vec![b'x'; 1 << 20]);
    /// assert!(write.is_pending());
    /// assert!(oc.buffered() > 0 && oc.buffered() < 3 + (1 << 20));
    /// ```
    pub fn buffered(&self) -> usize {
        self.0.buf.borrow().len() + self.0.in_flight.get()
    }

    /// Lwt_io's `is_busy`: is an operation in progress on the channel (a flush waiting for the
    /// descriptor, say), so that others would queue behind it?
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let oc = io::OutputChannel::of_fd(w);
    /// assert!(!oc.is_busy());
    /// // More than the pipe holds: the write waits for the reader.
    /// let write = oc.write(vec![b'x'; 1 << 20]);
    /// assert!(write.is_pending() && oc.is_busy());
    /// drop(r); // nobody will read: the write fails
    /// assert!(main::run(write).is_err());
    /// assert!(!oc.is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        self.0.lock.is_busy()
    }

    /// Has [`close`](OutputChannel::close) been called?
    ///
    /// ```
    /// let (_ic, oc) = lwt_core::io::pipe().unwrap();
    /// lwt_core::main::run(oc.close()).unwrap();
    /// assert!(oc.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// The error that broke the channel, if writing failed.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(ic.close()).unwrap(); // nobody reads the pipe any more
    /// assert!(oc.error().is_none());
    /// let failed = oc.write("x").bind({ let oc = oc.clone(); move |()| oc.flush() });
    /// assert!(main::run(failed).is_err());
    /// let e = oc.error().unwrap();
    /// assert_eq!(e.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::BrokenPipe);
    /// ```
    pub fn error(&self) -> Option<Exn> {
        self.0.error.borrow().clone()
    }

    /// The stored error as a rejection, marked as reported.
    fn fail_broken<T: 'static>(&self) -> Option<Promise<T>> {
        let e = self.0.error.borrow().clone()?;
        self.0.error_reported.set(true);
        Some(Promise::fail(e))
    }

    /// Rejects operations on a closed or broken channel.
    fn refuse<T: 'static>(&self) -> Option<Promise<T>> {
        if self.0.closed.get() {
            return Some(Promise::fail(ChannelClosed("output")));
        }
        self.fail_broken()
    }

    // ---- writing out ----

    /// `n` more bytes reached the descriptor: wakes the `flushed()` callers that waited for them.
    fn advance(&self, n: usize) {
        let written = self.0.written.get() + n as u64;
        self.0.written.set(written);
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(n));
        loop {
            let ready = {
                let mut waiters = self.0.waiters.borrow_mut();
                match waiters.front() {
                    Some((target, _)) if *target <= written => waiters.pop_front(),
                    _ => None,
                }
            };
            match ready {
                Some((_, r)) => r.wakeup_later(()),
                None => return,
            }
        }
    }

    /// The channel is closed: the `flushed()` callers still waiting (their bytes were not all
    /// written, the close having been canceled during its flush, say) will never be answered by
    /// a write, so they are rejected with `ChannelClosed` now.
    fn abandon_waiters(&self) {
        let waiters = std::mem::take(&mut *self.0.waiters.borrow_mut());
        crate::schedule::each_resolving(waiters, |(_, r)| {
            if r.is_pending() {
                r.wakeup_later_exn(ChannelClosed("output"));
            }
        });
    }

    /// Writes `data` to the descriptor (the buffer is empty meanwhile: the lock is held). On
    /// failure the unwritten bytes go back to the buffer.
    fn write_out(&self, data: Vec<u8>, report: bool) -> Promise<()> {
        self.0.in_flight.set(data.len());
        self.write_from(Outgoing::Owned(data), 0, report)
    }

    /// Writes `data[offset..]`, from the bytes themselves while the descriptor takes them at
    /// once (the usual flush: no allocation); from where the descriptor would block, shared with
    /// a write that waits (`written_later` goes on from there).
    fn write_from(&self, data: Outgoing, mut offset: usize, report: bool) -> Promise<()> {
        let fd = match self.0.owner.fd() {
            Ok(fd) => fd,
            Err(e) => return self.write_failed(&data, offset, e, report),
        };
        while offset < data.len() {
            let end = data.len().min(offset + MAX_WRITE);
            if fd.is_blocking() {
                // The standard output or error: written from the thread pool, as Lwt does, so
                // that a reader that does not keep up never blocks the loop's thread.
                let data = data.shared();
                let written = fd.write_on_pool(&data[offset..end]);
                return self.written_later(written, data, offset, report);
            }
            match fd.write_now(&data[offset..end]) {
                Attempt::Done(Ok(0)) => {
                    let e = Exn::from(io::Error::from(io::ErrorKind::WriteZero));
                    return self.write_failed(&data, offset, e, report);
                }
                Attempt::Done(Ok(n)) => {
                    self.advance(n);
                    offset += n;
                }
                Attempt::Done(Err(e)) => return self.write_failed(&data, offset, e.into(), report),
                Attempt::Blocked(token) => {
                    // The write shares `data`, which stays here for `write_failed` to put back.
                    let data = data.shared();
                    let written = fd.write_shared_when_ready(token, data.clone(), offset..end);
                    return self.written_later(written, data, offset, report);
                }
            }
        }
        match data {
            Outgoing::Owned(data) => self.recycle_vec(data),
            Outgoing::Shared(data) => self.recycle(data),
        }
        Promise::ret(())
    }

    /// Goes on with `data[offset..]` once `written`, a write of its next bytes that waits for
    /// the descriptor, is done.
    fn written_later(
        &self,
        written: Promise<usize>,
        data: Rc<Vec<u8>>,
        offset: usize,
        report: bool,
    ) -> Promise<()> {
        let (ok, err) = (self.clone(), self.clone());
        let again = data.clone();
        written.try_bind(
            move |n| {
                if n == 0 {
                    let e = Exn::from(io::Error::from(io::ErrorKind::WriteZero));
                    return ok.write_failed(&again, offset, e, report);
                }
                ok.advance(n);
                ok.write_from(Outgoing::Shared(again), offset + n, report)
            },
            move |e| err.write_failed(&data, offset, e, report),
        )
    }

    /// Gives the memory of a buffer that was written out back to the channel, if the channel's
    /// buffer is still empty (nothing was written meanwhile) and the channel still open: the
    /// next writes fill it without growing a new one. Only a buffer nothing else holds: after a
    /// write that had to wait, the continuation's error path still holds one, and the memory
    /// is simply dropped.
    fn recycle(&self, data: Rc<Vec<u8>>) {
        if let Ok(data) = Rc::try_unwrap(data) {
            self.recycle_vec(data);
        }
    }

    /// [`recycle`](Self::recycle) of a buffer nobody shares.
    fn recycle_vec(&self, mut data: Vec<u8>) {
        if self.0.closed.get() {
            return;
        }
        let mut buf = self.0.buf.borrow_mut();
        if buf.capacity() == 0 && data.capacity() <= self.0.size.max(DEFAULT_BUFFER_SIZE) {
            data.clear();
            *buf = data;
        }
    }

    fn write_failed(&self, data: &[u8], offset: usize, e: Exn, report: bool) -> Promise<()> {
        self.0.in_flight.set(0);
        {
            let mut buf = self.0.buf.borrow_mut();
            let mut rest = data[offset..].to_vec();
            rest.append(&mut buf);
            *buf = rest;
        }
        if e.is_canceled() {
            // The caller gave up; the data waits in the buffer for the next flush.
            self.schedule_auto_flush();
            return Promise::fail(e);
        }
        if self.0.aborted.get() {
            // The abort closed the descriptor under this write. Its error ("the file descriptor
            // is closed", `NotConnected` even on a pipe) would blame the descriptor; Lwt's abort
            // fails the operation in progress with `Channel_closed`, as the input side does.
            return Promise::fail(ChannelClosed("output"));
        }
        *self.0.error.borrow_mut() = Some(e.clone());
        let waiters = std::mem::take(&mut *self.0.waiters.borrow_mut());
        for (_, r) in waiters {
            if r.is_pending() {
                self.0.error_reported.set(true);
                r.wakeup_later_exn(e.clone());
            }
        }
        if report {
            self.0.error_reported.set(true);
        }
        Promise::fail(e)
    }

    /// Writes the buffer out (under the lock).
    fn flush_buffer(&self, report: bool) -> Promise<()> {
        if let Some(broken) = self.0.error.borrow().clone() {
            if report {
                self.0.error_reported.set(true);
            }
            return Promise::fail(broken);
        }
        let data = std::mem::take(&mut *self.0.buf.borrow_mut());
        if data.is_empty() {
            return Promise::ret(());
        }
        self.write_out(data, report)
    }

    /// Makes sure the buffer is flushed at the next iteration of the loop.
    fn schedule_auto_flush(&self) {
        if self.0.buf.borrow().is_empty() {
            return;
        }
        // Even with a flush scheduled: the loop may not turn again before the exit hooks run.
        ensure_hooked();
        if self.0.auto_flush.replace(true) {
            return;
        }
        // Lwt's `Lwt.pause () >>= fun () -> ...`, without its two promises: nobody waits for
        // this flush (a failure is kept in the channel and given to the waiters, not lost). The
        // channel files itself (`run_paused` below): no closure to allocate.
        pause_then(self.0.clone());
    }

    /// The automatic flush, at the turn of the loop after a burst of writes.
    fn auto_flush(&self) {
        // Usually an explicit `flush` has written the burst out already: with the lock free
        // and nothing buffered there is nothing to wait for (an operation that buffers more
        // later schedules its own automatic flush, since this one is over).
        if !self.0.lock.is_busy() && self.0.buf.borrow().is_empty() {
            self.0.auto_flush.set(false);
            return;
        }
        let me = self.clone();
        let flushing = serialized(&self.0.lock, move || {
            me.0.auto_flush.set(false);
            if me.0.closed.get() {
                return Promise::ret(());
            }
            me.flush_buffer(false)
        });
        drop(flushing);
    }

    /// Appends `parts` to the buffer now, if that is all running the write under the lock
    /// would do, at once: the lock is free (see [`may_run_at_once`]), the channel open and not
    /// broken, and the parts fit. The usual small write then costs neither a vector of its own
    /// nor the lock's promises. False (nothing done) otherwise: the caller takes the general
    /// path.
    fn put_at_once(&self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.0.closed.get()
            || self.0.error.borrow().is_some()
            || self.0.buf.borrow().len() + len > self.0.size
            || !may_run_at_once(&self.0.lock)
        {
            return false;
        }
        self.0.accepted.set(self.0.accepted.get() + len as u64);
        let mut buf = self.0.buf.borrow_mut();
        for part in parts {
            buf.extend_from_slice(part);
        }
        drop(buf);
        self.schedule_auto_flush();
        true
    }

    /// Puts `data` in the buffer, or writes it out with the buffer if it does not fit.
    fn put(&self, data: Vec<u8>) -> Promise<()> {
        if let Some(refused) = self.refuse() {
            return refused;
        }
        self.0
            .accepted
            .set(self.0.accepted.get() + data.len() as u64);
        let mut buf = self.0.buf.borrow_mut();
        if buf.len() + data.len() <= self.0.size {
            buf.extend_from_slice(&data);
            drop(buf);
            self.schedule_auto_flush();
            Promise::ret(())
        } else {
            let mut out = std::mem::take(&mut *buf);
            drop(buf);
            if out.is_empty() {
                out = data;
            } else {
                out.extend_from_slice(&data);
            }
            self.write_out(out, true)
        }
    }

    // ---- operations ----

    /// Lwt_io's `write`: writes `data` (a `&str`, a `String`, bytes...). Fulfilled when the
    /// data is in the buffer (or, if it did not fit, written to the descriptor), where tokio's
    /// `write_all` waits until the writer took it all: the buffer goes out at the loop's next
    /// turn, or with [`flush`](OutputChannel::flush).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("text").bind({ let oc = oc.clone(); move |()| oc.write(b" and bytes") })).unwrap();
    /// main::run(oc.close()).unwrap();
    /// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"text and bytes");
    /// ```
    #[doc(alias = "write_all")]
    pub fn write(&self, data: impl AsRef<[u8]>) -> Promise<()> {
        let data = data.as_ref();
        if self.put_at_once(&[data]) {
            return Promise::ret(());
        }
        let data = data.to_vec();
        let me = self.clone();
        serialized(&self.0.lock, move || me.put(data))
    }

    /// Lwt_io's `write_char`: writes one character (UTF-8 encoded).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_char('λ').bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_char()).unwrap(), 'λ');
    /// ```
    pub fn write_char(&self, c: char) -> Promise<()> {
        self.write(c.encode_utf8(&mut [0; 4]).as_bytes())
    }

    /// Lwt_io's `write_line`: writes `line` and `"\n"`.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_line("hi").bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read(10)).unwrap(), b"hi\n");
    /// ```
    pub fn write_line(&self, line: impl AsRef<[u8]>) -> Promise<()> {
        let line = line.as_ref();
        if self.put_at_once(&[line, b"\n"]) {
            return Promise::ret(());
        }
        let mut data = Vec::with_capacity(line.len() + 1);
        data.extend_from_slice(line);
        data.push(b'\n');
        let me = self.clone();
        serialized(&self.0.lock, move || me.put(data))
    }

    /// Lwt_io's `fprintf`: writes formatted text. The arguments are formatted at once, so
    /// `format_args!` can be passed directly. A `Display` that fails or panics rejects the
    /// promise ([`InvalidArgument`](crate::InvalidArgument), [`Panicked`](crate::Panicked)) and
    /// writes nothing.
    ///
    /// Like every write, fulfilled once the text is in the buffer: a program that returns from
    /// `main` before the channel is flushed or closed loses what is still buffered (Lwt flushes
    /// at exit). Flush or close it, or end with [`main::exit`](crate::main::exit), whose exit
    /// hooks flush every channel; the functions [`io::printf`](super::printf()) and
    /// [`io::printl`](super::printl) wait for the output themselves.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.printf(format_args!("{} + {} = {}\n", 1, 2, 1 + 2)).bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_line()).unwrap(), "1 + 2 = 3");
    /// ```
    pub fn printf(&self, args: fmt::Arguments<'_>) -> Promise<()> {
        match super::format::formatted(args) {
            Ok(text) => self.write(text),
            Err(e) => Promise::fail(e),
        }
    }

    /// Lwt_io's `flush`: writes the buffer out; fulfilled when the descriptor took all of it.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("now").bind({ let oc = oc.clone(); move |()| oc.flush() })).unwrap();
    /// assert_eq!(oc.buffered(), 0);
    /// assert_eq!(main::run(ic.read(3)).unwrap(), b"now");
    /// ```
    pub fn flush(&self) -> Promise<()> {
        let me = self.clone();
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("output"));
            }
            me.flush_buffer(true)
        })
    }

    /// [`flush`](Self::flush) for [`flush_all`]: a failure stays unreported, for the channel's
    /// own next operation or its `close` to report (nothing else sees `flush_all`'s flushes).
    fn flush_unreported(&self) -> Promise<()> {
        let me = self.clone();
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("output"));
            }
            me.flush_buffer(false)
        })
    }

    /// Fulfilled when every byte written so far has reached the descriptor, without forcing a
    /// flush: the automatic flush of the next iteration does it, together with whatever else was
    /// written meanwhile. Rejected if writing fails, or with [`ChannelClosed`] if the channel is
    /// closed before the bytes are out. This is what [`print`](super::print()) and
    /// [`printl`](super::printl) wait for.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// let wrote = oc.write_line("one").bind({ let oc = oc.clone(); move |()| oc.flushed() });
    /// oc.write_line("two"); // same burst, same flush
    /// main::run(wrote).unwrap();
    /// assert_eq!(oc.buffered(), 0);
    /// assert_eq!(main::run(ic.read(100)).unwrap(), b"one\ntwo\n");
    /// ```
    pub fn flushed(&self) -> Promise<()> {
        let target = self.0.accepted.get();
        if self.0.written.get() >= target {
            return Promise::ret(());
        }
        if let Some(broken) = self.fail_broken() {
            return broken;
        }
        if self.0.close_done.get() {
            // Closed with bytes that will never be written. (While a close is still writing
            // them out, the waiter is registered: the close settles it either way.)
            return Promise::fail(ChannelClosed("output"));
        }
        let (p, r) = task();
        self.0.waiters.borrow_mut().push_back((target, r));
        self.schedule_auto_flush();
        p
    }

    /// Lwt_io's `close` for an output channel: after the operations already started, flushes
    /// the buffer and closes the descriptor (for a connection: shuts its sending side down, so
    /// the peer sees the end of input; for [`stdout`](super::stdout) and
    /// [`stderr`](super::stderr): ends the process's standard stream, as their docs say).
    /// Rejected if the final flush fails, or if an earlier
    /// automatic flush (or [`flush_all`]) failed and no operation reported it; the descriptor is
    /// closed in any case. An error an operation has reported already is not reported again:
    /// the close is fulfilled, and [`buffered`](OutputChannel::buffered) still counts the bytes
    /// that were never written. Closing a closed channel does nothing.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("bye").bind({ let oc = oc.clone(); move |()| oc.close() })).unwrap();
    /// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"bye");
    /// assert!(main::run(oc.write("more")).unwrap_err().is::<io::ChannelClosed>());
    /// ```
    pub fn close(&self) -> Promise<()> {
        let me = self.clone();
        let aborted_before = self.0.aborted.get();
        serialized(&self.0.lock, move || {
            if me.0.closed.replace(true) {
                if me.0.aborted.get() && !aborted_before && me.buffered() > 0 {
                    // Aborted while this close waited its turn: its bytes were dropped.
                    return Promise::fail(ChannelClosed("output"));
                }
                return Promise::ret(());
            }
            let unreported = me.0.error.borrow().clone();
            let flushed = match unreported {
                Some(e) if !me.0.error_reported.replace(true) => Promise::fail(e),
                Some(_) => Promise::ret(()),
                None => me.flush_buffer(true),
            };
            let closer = me.clone();
            flushed.finalize(move || {
                let closed = closer.0.owner.close_output();
                closer.0.close_done.set(true);
                closer.abandon_waiters();
                Promise::of_result(closed)
            })
        })
    }

    /// Lwt_io's `abort`: closes the channel and its descriptor at once, without writing out
    /// what the buffer holds ([`buffered`](OutputChannel::buffered) still counts it, as bytes
    /// that will never be written). Writes, flushes and a close in progress fail with
    /// [`ChannelClosed`], as in Lwt: a write waiting for room, a
    /// [`flushed`](OutputChannel::flushed) waiter, a close queued behind them if bytes were
    /// left unwritten.
    ///
    /// On a connection it closes the connection, both channels with it, as Lwt's abort does
    /// (where [`close`](OutputChannel::close) only shuts the sending side down). Rejected only
    /// if closing the descriptor fails; aborting again does nothing more.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("dropped")).unwrap(); // buffered
    /// main::run(oc.abort()).unwrap();
    /// assert!(oc.is_closed());
    /// assert_eq!(oc.buffered(), 7);
    /// assert_eq!(main::run(ic.read_to_end()).unwrap(), b""); // nothing was written
    /// assert!(main::run(oc.write("more")).unwrap_err().is::<io::ChannelClosed>());
    /// ```
    pub fn abort(&self) -> Promise<()> {
        self.0.aborted.set(true);
        self.0.closed.set(true);
        // The `flushed` waiters first, with `ChannelClosed`: closing the descriptor fails the
        // write in progress, which would otherwise hand them its own error (a socket's abort
        // already settles them first, through `socket_aborted`).
        self.abandon_waiters();
        let aborted = self.0.owner.abort();
        self.0.close_done.set(true);
        Promise::of_result(aborted)
    }

    /// The input channel's close closed the socket under this channel (see `owner.rs`): if
    /// this channel's own close did not get to run (the input's close was canceled while it
    /// waited for the operations in progress), it is closed now. An operation in progress gets
    /// the error of the closed descriptor; the bytes it did not write stay counted in
    /// [`buffered`](OutputChannel::buffered).
    pub(super) fn socket_closed(&self) {
        self.0.closed.set(true);
        self.0.close_done.set(true);
        self.abandon_waiters();
    }

    /// The connection under this channel was aborted, from either channel (see `owner.rs`).
    pub(super) fn socket_aborted(&self) {
        self.0.aborted.set(true);
        self.socket_closed();
    }

    pub(super) fn downgrade(&self) -> WeakOutputChannel {
        WeakOutputChannel(Rc::downgrade(&self.0))
    }
}

/// An output channel that does not keep it alive (the socket's link to its output channel).
pub(super) struct WeakOutputChannel(Weak<Output>);

impl WeakOutputChannel {
    pub(super) fn upgrade(&self) -> Option<OutputChannel> {
        self.0.upgrade().map(OutputChannel)
    }
}

impl Channel for OutputChannel {
    fn close(&self) -> Promise<()> {
        OutputChannel::close(self)
    }

    fn abort(&self) -> Promise<()> {
        OutputChannel::abort(self)
    }

    fn is_closed(&self) -> bool {
        OutputChannel::is_closed(self)
    }
}

impl fmt::Debug for OutputChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputChannel")
            .field("buffered", &self.buffered())
            .field("closed", &self.is_closed())
            .field("error", &self.0.error.borrow())
            .finish()
    }
}

/// The bytes a flush writes out: the channel's buffer itself, until a write must wait for the
/// descriptor and shares them.
enum Outgoing {
    Owned(Vec<u8>),
    Shared(Rc<Vec<u8>>),
}

impl Outgoing {
    /// The bytes behind an `Rc`, to share with a write that waits.
    fn shared(self) -> Rc<Vec<u8>> {
        match self {
            Outgoing::Owned(data) => Rc::new(data),
            Outgoing::Shared(data) => data,
        }
    }
}

impl std::ops::Deref for Outgoing {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Outgoing::Owned(data) => data,
            Outgoing::Shared(data) => data,
        }
    }
}

impl PausedWork for Output {
    fn run_paused(self: Rc<Self>) {
        OutputChannel(self).auto_flush();
    }
}
