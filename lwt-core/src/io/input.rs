//! [`InputChannel`]: buffered reading (Lwt_io's `input_channel`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::error::{ChannelClosed, EndOfFile, LineTooLong};
use super::lock::{serialized, serialized_held, Held, Lock};
use super::owner::Owner;
use super::{Channel, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_LINE_LENGTH};
use crate::callbacks::Outcome;
use crate::exn::Exn;
use crate::node::CancelListener;
use crate::promise::Promise;
use crate::resolver::{task, task_telling, Resolver};
use crate::unix::fd::check_range;
use crate::unix::Fd;

/// The largest single read a channel asks for, whatever an operation needs.
const MAX_READ: usize = 1 << 20;

/// A buffered input channel (Lwt_io's `input_channel`) over a file descriptor: a pipe, a socket,
/// a file or the standard input.
///
/// A channel is a cheap handle: clones share the channel, and dropping the last handle closes
/// its descriptor (a connection's socket, once its output channel is gone too), with what the
/// buffer still holds. Reading operations return promises;
/// they run one at a time, in the order they were called (an operation started while another
/// is in progress waits for it), so two `read_line`s on one channel never mix their bytes.
///
/// Reading is cancel-safe: canceling a pending read (with [`pick`](crate::pick) and a timeout,
/// for instance) loses no data. What the canceled read would have returned stays in the
/// channel's buffer for the next read.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, oc) = io::pipe().unwrap();
/// let line = ic.read_line();
/// assert!(line.is_pending());
/// main::run(oc.write("hello\r\nworld").bind(move |()| oc.close())).unwrap();
/// assert_eq!(main::run(line).unwrap(), "hello");
/// assert_eq!(main::run(ic.read_line()).unwrap(), "world"); // the last line needs no newline
/// assert!(main::run(ic.read_line()).unwrap_err().is::<io::EndOfFile>());
/// ```
#[derive(Clone)]
pub struct InputChannel(Rc<Input>);

struct Input {
    owner: Owner,
    /// The buffered bytes; the unread ones are `buf[pos..]`.
    buf: RefCell<Vec<u8>>,
    pos: Cell<usize>,
    /// Bytes the program has read (taken out of the buffer) since the channel was made.
    consumed: Cell<u64>,
    chunk: usize,
    max_line: Cell<usize>,
    closed: Cell<bool>,
    /// The close, which a later close waits for (on a socket it closes the output channel
    /// first, which may take a while).
    closing: RefCell<Option<Promise<()>>>,
    /// Is a read of the descriptor in progress? Whoever needs more data meanwhile waits for it
    /// (see `fill_waiters`).
    filling: Cell<bool>,
    /// The flag that gives up a read filed with the reactor before it reads, once nobody waits
    /// for it (see `give_up_fill`). The read's job holds a clone while it is filed, and drops it
    /// before its continuation runs, so the next read reuses the flag unless one was given up.
    fill_wanted: RefCell<Rc<Cell<bool>>>,
    /// The buffer the descriptor reads `chunk` bytes into, moved into each such read and given
    /// back with it (empty meanwhile, or before the first read, or after a failed one).
    spare: RefCell<Vec<u8>>,
    /// The callers waiting for the read in progress (at most one operation at a time: they are
    /// serialized by the lock), each on a task of its own: an operation's step and lock wait
    /// here as a resumption, which the read runs when it ends; `close` ends them, and canceling
    /// one drops it (releasing the lock) and leaves the read and the others alone.
    fill_waiters: RefCell<Vec<FillWaiter>>,
    lock: Rc<Lock>,
}

/// What an operation's step decided: done, or more data is needed.
type Step<T> = Option<Result<T, Exn>>;

/// What an operation needs from the descriptor when its step wants more data: the size of the
/// next read ([`InputChannel::read_size`]).
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Read `chunk` bytes, or, if more of this many unread bytes are missing (a large
    /// `read_exactly`, `read_to_end`), the fewest whole `chunk`s that hold them. Lwt's
    /// operations other than the numbers consume the buffered bytes before they refill, so each
    /// refill asks for a whole buffer; here those bytes stay buffered until the operation
    /// completes, and one read of whole buffers takes from the descriptor what Lwt's series of
    /// refills takes, which decides whether a later `set_position` on a pipe stays in the buffer.
    AtLeast(usize),
    /// A binary number of this many bytes (Lwt's `read_block_unsafe`): the bytes buffered stay
    /// where they are and the read asks only for the rest of the buffer (`chunk`, or the width
    /// if more, less them), so that the channel then holds no more than its buffer size, as
    /// Lwt's. What it holds decides whether a later `set_position` forward stays in the buffer,
    /// which a pipe needs (`tests/ocaml_diff_io.rs` found this).
    Block(usize),
}

impl InputChannel {
    pub(crate) fn new(owner: Owner, buffer_size: usize) -> InputChannel {
        InputChannel(Rc::new(Input {
            owner,
            buf: RefCell::new(Vec::new()),
            pos: Cell::new(0),
            consumed: Cell::new(0),
            chunk: buffer_size.clamp(1, MAX_READ),
            max_line: Cell::new(DEFAULT_MAX_LINE_LENGTH),
            closed: Cell::new(false),
            closing: RefCell::new(None),
            filling: Cell::new(false),
            fill_wanted: RefCell::new(Rc::new(Cell::new(true))),
            spare: RefCell::new(Vec::new()),
            fill_waiters: RefCell::new(Vec::new()),
            lock: Rc::default(),
        }))
    }

    /// Lwt_io's `of_fd ~mode:Input`: a channel reading `fd`, with a buffer of
    /// [`DEFAULT_BUFFER_SIZE`] bytes. Closing the channel closes `fd`.
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let ic = io::InputChannel::of_fd(r);
    /// main::run(w.write_all(b"x\n".to_vec())).unwrap();
    /// assert_eq!(main::run(ic.read_line()).unwrap(), "x");
    /// ```
    pub fn of_fd(fd: Fd) -> InputChannel {
        InputChannel::with_buffer_size(fd, DEFAULT_BUFFER_SIZE)
    }

    /// Like [`of_fd`](InputChannel::of_fd), reading `buffer_size` bytes at a time (at least 1, at
    /// most 1 MiB).
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (r, w) = unix::pipe().unwrap();
    /// let ic = io::InputChannel::with_buffer_size(r, 2);
    /// main::run(w.write_all(b"abcdef".to_vec())).unwrap();
    /// assert_eq!(main::run(ic.read(100)).unwrap(), b"ab"); // one read of 2 bytes
    /// assert_eq!(ic.buffered(), 0);
    /// ```
    pub fn with_buffer_size(fd: Fd, buffer_size: usize) -> InputChannel {
        InputChannel::new(Owner::Fd(fd), buffer_size)
    }

    /// How many bytes are buffered, read from the descriptor but not yet by the program
    /// (Lwt_io's `buffered`).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("ab\ncd\n").bind(move |()| oc.flush())).unwrap();
    /// main::run(ic.read_line()).unwrap();
    /// assert_eq!(ic.buffered(), 3);
    /// ```
    pub fn buffered(&self) -> usize {
        self.0.buf.borrow().len() - self.0.pos.get()
    }

    /// The longest line [`read_line`](InputChannel::read_line) accepts, in bytes, the line
    /// terminator not included. The default is [`DEFAULT_MAX_LINE_LENGTH`] (1 MiB).
    ///
    /// ```
    /// let (ic, _oc) = lwt_core::io::pipe().unwrap();
    /// assert_eq!(ic.max_line_length(), lwt_core::io::DEFAULT_MAX_LINE_LENGTH);
    /// ```
    pub fn max_line_length(&self) -> usize {
        self.0.max_line.get()
    }

    /// Sets the longest line [`read_line`](InputChannel::read_line) accepts. A longer line is
    /// rejected with [`LineTooLong`] once more than `limit` bytes of it are buffered, so the
    /// channel never holds much more than `limit` bytes for a line.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// ic.set_max_line_length(3);
    /// main::run(oc.write("abc\nabcd\n").bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_line()).unwrap(), "abc");
    /// assert!(main::run(ic.read_line()).unwrap_err().is::<io::LineTooLong>());
    /// ```
    pub fn set_max_line_length(&self, limit: usize) {
        self.0.max_line.set(limit);
    }

    /// Lwt_io's `position`: how many bytes the program has read from the channel since it was
    /// made (bytes read from the descriptor but still [`buffered`](InputChannel::buffered) do
    /// not count). For a file opened by [`open_file`](super::open_file), the offset of the next
    /// byte a read gives.
    ///
    /// A read takes its bytes out of the buffer when it completes, not as they arrive (which
    /// is what makes canceling it lose nothing): while a `read_line` waits for the rest of its
    /// line, the part received counts in [`buffered`](InputChannel::buffered), not here. Lwt's
    /// `read_line` (and `read_into_exactly`) consume as they go, so its `position` counts that
    /// part and its `buffered` does not; once the read is over, both agree.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("one\ntwo\n").bind(move |()| oc.close())).unwrap();
    /// main::run(ic.read_line()).unwrap();
    /// assert_eq!(ic.position(), 4);
    /// assert_eq!(ic.buffered(), 4); // "two\n", read from the pipe but not by the program
    /// ```
    pub fn position(&self) -> u64 {
        self.0.consumed.get()
    }

    /// Lwt_io's `set_position`: after the operations already started, makes the next read start
    /// at byte `pos` and [`position`](InputChannel::position) be `pos`. Forward within the
    /// [`buffered`](InputChannel::buffered) bytes, it skips to it (on any channel, a pipe
    /// included); anywhere else it moves the descriptor to byte `pos` of the file and drops what
    /// the buffer holds. That is rejected with the system's error on a pipe or a terminal
    /// (`ESPIPE`), with `NotSeekable` on a socket, with [`ChannelClosed`] once the channel is
    /// closed; the channel is then unchanged.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let path = std::env::temp_dir().join(format!("lwt-set-position-doc-{}", std::process::id()));
    /// std::fs::write(&path, "0123456789").unwrap();
    /// let ic = main::run(io::open_file(&path, io::Input)).unwrap();
    /// main::run(ic.set_position(6)).unwrap();
    /// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"6789");
    /// main::run(ic.set_position(2)).unwrap();
    /// assert_eq!((ic.position(), main::run(ic.read_exactly(3)).unwrap()), (2, b"234".to_vec()));
    /// assert_eq!(main::run(ic.length()).unwrap(), 10);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn set_position(&self, pos: u64) -> Promise<()> {
        let me = self.clone();
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("input"));
            }
            // A read of the descriptor still under way (its caller gave up waiting) puts its
            // bytes in the buffer when it ends: let it, so that they are dropped with the rest
            // rather than read at the new position.
            let settled = if me.0.filling.get() {
                me.fill_waiter().map(|_| ()).catch(|_| Promise::ret(()))
            } else {
                Promise::ret(())
            };
            settled.bind(move |()| {
                // Closed while it waited for that read (which a close ends at once): the
                // channel is gone, as it would have been had the close come first.
                if me.0.closed.get() {
                    return Promise::fail(ChannelClosed("input"));
                }
                // Forward within what is buffered: skip to it, without the descriptor (so on a
                // pipe too), as Lwt does.
                let here = me.0.consumed.get();
                if pos >= here && pos - here <= me.unread_len() as u64 {
                    me.consume((pos - here) as usize);
                    return Promise::ret(());
                }
                if let Err(e) = me.0.owner.seek_to(pos) {
                    return Promise::fail(e);
                }
                *me.0.buf.borrow_mut() = Vec::new();
                me.0.pos.set(0);
                me.0.consumed.set(pos);
                Promise::ret(())
            })
        })
    }

    /// Lwt_io's `length`: after the operations already started, the size of the file the
    /// channel reads, in bytes (for a device, where a seek to its end is, as in Lwt: 0 for
    /// `/dev/null`). Rejected with `NotSeekable` on a pipe or a terminal,
    /// `Unsupported` on a socket, and [`ChannelClosed`] once the channel is closed.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let path = std::env::temp_dir().join(format!("lwt-length-doc-{}", std::process::id()));
    /// std::fs::write(&path, "hello").unwrap();
    /// let ic = main::run(io::open_file(&path, io::Input)).unwrap();
    /// assert_eq!(main::run(ic.length()).unwrap(), 5);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn length(&self) -> Promise<u64> {
        let me = self.clone();
        // Under the lock, as Lwt's (a primitive there): a closed channel is `ChannelClosed`, not
        // the error of its closed descriptor.
        serialized(&self.0.lock, move || {
            if me.0.closed.get() {
                return Promise::fail(ChannelClosed("input"));
            }
            Promise::of_result(me.0.owner.file_length())
        })
    }

    /// Lwt_io's `is_busy`: is an operation in progress on the channel (and others would queue
    /// behind it)?
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// assert!(!ic.is_busy());
    /// let line = ic.read_line(); // waits for input
    /// assert!(ic.is_busy());
    /// main::run(oc.write_line("hi")).unwrap();
    /// assert_eq!(main::run(line).unwrap(), "hi");
    /// assert!(!ic.is_busy());
    /// ```
    pub fn is_busy(&self) -> bool {
        self.0.lock.is_busy()
    }

    /// Has [`close`](InputChannel::close) been called?
    ///
    /// ```
    /// let (ic, _oc) = lwt_core::io::pipe().unwrap();
    /// assert!(!ic.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// Lwt_io's `close` for an input channel: closes the channel at once (reads in progress are
    /// rejected with [`ChannelClosed`], buffered data is dropped) and its descriptor.
    ///
    /// The input channel of a connection ([`socket_channels`](super::socket_channels),
    /// [`open_connection`](super::open_connection), a server's) closes the whole connection, as
    /// Lwt's does: it closes the output channel first (which writes out what it holds, after the
    /// operations in progress, so this may wait for the peer to read), then shuts the socket down
    /// both ways and closes it. The peer's reader sees the end of input, its writers fail rather
    /// than wait. Rejected if the output channel's close fails (the peer is gone, say): its
    /// unwritten bytes are not lost silently. Canceling the close (with a timeout, say) closes
    /// the socket at once, without waiting for the output; its operations in progress then fail
    /// with the error of the closed descriptor. Lwt drops the output's buffered bytes here.
    ///
    /// Closing a closed channel does nothing more: it is fulfilled once the first close is done
    /// (whose outcome is its caller's). Canceling it does not cancel the first.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, _oc) = io::pipe().unwrap();
    /// let pending = ic.read_char();
    /// main::run(ic.close()).unwrap();
    /// assert!(main::run(pending).unwrap_err().is::<io::ChannelClosed>());
    /// main::run(ic.close()).unwrap(); // again: nothing
    /// ```
    ///
    /// On a connection, what the output channel holds is sent before the socket closes:
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (a, b) = unix::socketpair().unwrap();
    /// let (a_in, a_out) = io::socket_channels(a);
    /// main::run(a_out.write("last words")).unwrap(); // buffered
    /// main::run(a_in.close()).unwrap();
    /// assert!(a_out.is_closed());
    /// let (b_in, _b_out) = io::socket_channels(b);
    /// assert_eq!(main::run(b_in.read_to_end()).unwrap(), b"last words"); // then the end
    /// ```
    pub fn close(&self) -> Promise<()> {
        let me = &self.0;
        if me.closed.replace(true) {
            let Some(first) = me.closing.borrow().clone() else {
                return Promise::ret(());
            };
            // `protected`: a caller that gives up waiting must not abort the first close. Once
            // the first close is done the channel is closed, whatever its outcome; while it is
            // not, a rejection can only be this wait's cancel.
            let done = first.clone();
            return first.protected().then(move |outcome| match outcome {
                Err(e) if done.is_pending() => Promise::fail(e),
                _ => Promise::ret(()),
            });
        }
        self.stop_reading();
        let closing = me.owner.close_input();
        *me.closing.borrow_mut() = Some(closing.clone());
        closing
    }

    /// Lwt_io's `abort`: closes the channel and its descriptor at once. Unlike
    /// [`close`](InputChannel::close), on a connection it does not wait for the output channel
    /// to write out what it holds: the connection closes now, both channels with it, and what
    /// the output channel held is not sent (its [`buffered`](super::OutputChannel::buffered)
    /// still counts it). Reads and writes in progress fail, as do those made after, with
    /// [`ChannelClosed`] (a read in progress in Lwt fails with `Unix_error (EBADF, ..)`, from
    /// the closed descriptor). A close already waiting for the
    /// output is cut short and rejected: with [`ChannelClosed`] if the output's own close had
    /// not started writing (bytes were left unwritten), or with the error of the closed
    /// descriptor if it was writing them out.
    ///
    /// Rejected only if closing the descriptor fails. Aborting a closed channel does nothing
    /// more (on a connection whose output alone was closed, it closes the connection).
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (a, b) = unix::socketpair().unwrap();
    /// let (a_in, a_out) = io::socket_channels(a);
    /// let (b_in, _b_out) = io::socket_channels(b);
    /// main::run(a_out.write("never sent")).unwrap(); // buffered
    /// main::run(a_in.abort()).unwrap();
    /// assert!(a_in.is_closed() && a_out.is_closed());
    /// assert_eq!(a_out.buffered(), 10); // dropped, and still counted
    /// assert_eq!(main::run(b_in.read_to_end()).unwrap(), b""); // the peer sees the end at once
    /// ```
    pub fn abort(&self) -> Promise<()> {
        let first = !self.0.closed.get();
        self.stop_reading();
        let aborted = Promise::of_result(self.0.owner.abort());
        if first {
            *self.0.closing.borrow_mut() = Some(aborted.clone());
        }
        aborted
    }

    /// Marks the channel closed and ends the reads in progress, without touching the
    /// descriptor: the first step of `close` and `abort`, and what an abort of the output
    /// channel on the same socket does to this one.
    fn stop_reading(&self) {
        let me = &self.0;
        me.closed.set(true);
        *me.buf.borrow_mut() = Vec::new();
        *me.spare.borrow_mut() = Vec::new();
        me.pos.set(0);
        me.filling.set(false);
        // The reads waiting on the fill end now, with `ChannelClosed` (see `read_failed`): a
        // read of the standard input runs on the thread pool, where closing the descriptor does
        // not interrupt it, and would otherwise keep them waiting for input that may never come.
        let waiting = std::mem::take(&mut *me.fill_waiters.borrow_mut());
        for waiter in waiting {
            waiter.finish(Err(Exn::canceled()), false);
        }
    }

    /// The connection under this channel was aborted (see `owner.rs`).
    pub(super) fn socket_closed(&self) {
        self.stop_reading();
    }

    pub(super) fn owner(&self) -> &Owner {
        &self.0.owner
    }

    pub(super) fn downgrade(&self) -> WeakInputChannel {
        WeakInputChannel(Rc::downgrade(&self.0))
    }

    // ---- the buffer ----

    fn unread_len(&self) -> usize {
        self.buffered()
    }

    /// Removes the first `n` unread bytes and returns them.
    fn consume(&self, n: usize) -> Vec<u8> {
        let taken = self.with_unread(|unread| unread[..n].to_vec());
        self.skip(n);
        taken
    }

    /// Moves the first `dst.len()` unread bytes into `dst`.
    fn consume_into(&self, dst: &mut [u8]) {
        self.with_unread(|unread| dst.copy_from_slice(&unread[..dst.len()]));
        self.skip(dst.len());
    }

    /// Drops the first `n` unread bytes (they have been read).
    fn skip(&self, n: usize) {
        let mut buf = self.0.buf.borrow_mut();
        let pos = self.0.pos.get();
        self.0.consumed.set(self.0.consumed.get() + n as u64);
        if pos + n == buf.len() {
            if buf.capacity() > 4 * self.0.chunk {
                *buf = Vec::new(); // after a long line: give the memory back
            } else {
                buf.clear();
            }
            self.0.pos.set(0);
        } else {
            self.0.pos.set(pos + n);
        }
    }

    fn append(&self, data: Vec<u8>) {
        if data.is_empty() || self.0.closed.get() {
            return;
        }
        let mut buf = self.0.buf.borrow_mut();
        let pos = self.0.pos.get();
        if pos == buf.len() {
            *buf = data;
        } else {
            buf.drain(..pos);
            buf.extend_from_slice(&data);
        }
        self.0.pos.set(0);
    }

    /// [`append`](Self::append) for bytes read into the spare buffer: copied, so that both
    /// buffers keep their memory.
    fn append_slice(&self, data: &[u8]) {
        if data.is_empty() || self.0.closed.get() {
            return;
        }
        let mut buf = self.0.buf.borrow_mut();
        let pos = self.0.pos.get();
        if pos == buf.len() && buf.capacity() > self.0.chunk {
            // Grown by a long line and now read through: give that memory back, as replacing
            // the buffer with each read's own vector did, rather than keep it for good.
            *buf = data.to_vec();
        } else {
            buf.drain(..pos);
            buf.extend_from_slice(data);
        }
        self.0.pos.set(0);
    }

    /// Reads more data into the buffer: the number of bytes added (0: end of input) when the
    /// read did not have to wait, `None` when a read is under way (this one, or one started
    /// earlier): its callers wait for it in `fill_waiters`. One read at a time, and canceling a
    /// caller cancels only its own wait: whatever the read reads goes to the buffer. Once no
    /// caller is left, the read is given up before it reads (`give_up_fill`).
    fn fill_now(&self, size: usize) -> Option<Outcome<usize>> {
        if self.0.filling.get() {
            return None;
        }
        let fd = match self.0.owner.fd() {
            Ok(fd) => fd,
            Err(e) => return Some(Err(e)),
        };
        if !fd.is_blocking() {
            // Filed with the reactor with this channel's continuation rather than made a
            // promise (nobody waits on the read itself), and with a flag that gives it up if its
            // callers all go (`give_up_fill`).
            let wanted = self.fill_flag();
            let ch = self.clone();
            let started = if size <= self.0.chunk {
                // The usual read: into the spare buffer, which comes back with the count. Only
                // the bytes read are copied into `buf`, so both keep their memory: a read of a
                // few bytes neither allocates nor zeroes `chunk` bytes.
                let spare = self.take_spare(self.0.chunk);
                fd.read_into_then(spare, 0..size, wanted.clone(), move |read| {
                    let _ = ch.spare_read_over(read);
                })
                .map(|read| self.spare_read_over(read))
            } else {
                // A large `read_exactly` and the like: read into a buffer of its own, moved into
                // the channel's, rather than keep a spare buffer of that size.
                fd.read_then(size, wanted.clone(), move |read| {
                    let _ = ch.large_read_over(read);
                })
                .map(|read| self.large_read_over(read))
            };
            if started.is_none() {
                self.0.filling.set(true);
            }
            return started;
        }
        let (ok, err) = (self.clone(), self.clone());
        let mut read = if size <= self.0.chunk {
            // The standard input: read on the thread pool, into the spare buffer as above.
            let spare = self.take_spare(self.0.chunk);
            fd.read_into(spare, 0..size).try_bind(
                move |spare| Promise::from_outcome(ok.spare_read_over(Ok(spare))),
                move |e| Promise::from_outcome(err.read_failed_over(e)),
            )
        } else {
            fd.read(size).try_bind(
                move |data| {
                    let n = data.len();
                    Promise::from_outcome(ok.large_read_over(Ok((data, n))))
                },
                move |e| Promise::from_outcome(err.read_failed_over(e)),
            )
        };
        if read.is_pending() {
            self.0.filling.set(true);
            None
        } else {
            Some(read.take_outcome())
        }
    }

    /// The spare buffer, at `size` bytes, moved out for a read.
    fn take_spare(&self, size: usize) -> Vec<u8> {
        let spare = std::mem::take(&mut *self.0.spare.borrow_mut());
        if spare.len() == size {
            spare
        } else {
            vec![0; size]
        }
    }

    /// A large read into a buffer of its own is over: its bytes go to the buffer, and the
    /// callers that waited for it go on.
    fn large_read_over(&self, read: io::Result<(Vec<u8>, usize)>) -> Outcome<usize> {
        match read {
            Ok((mut data, n)) => {
                let waiting = self.read_over();
                data.truncate(n);
                self.append(data);
                self.read_done(waiting, n)
            }
            Err(e) => self.read_failed_over(Exn::from(e)),
        }
    }

    /// A read into the spare buffer is over: its bytes go to the buffer and the spare buffer
    /// back to its place, and the callers that waited for it go on.
    fn spare_read_over(&self, read: io::Result<(Vec<u8>, usize)>) -> Outcome<usize> {
        match read {
            Ok((spare, n)) => {
                let waiting = self.read_over();
                self.append_slice(&spare[..n]);
                // A closed channel reads no more: its memory goes now, not with the channel.
                if !self.0.closed.get() {
                    *self.0.spare.borrow_mut() = spare;
                }
                self.read_done(waiting, n)
            }
            Err(e) => self.read_failed_over(Exn::from(e)),
        }
    }

    /// A read failed: the callers that waited for it get its error.
    fn read_failed_over(&self, e: Exn) -> Outcome<usize> {
        for waiter in self.read_over() {
            waiter.finish(Err(e.clone()), true);
        }
        Err(e)
    }

    /// The read in progress is over: the callers that waited for it, to go on once the buffer
    /// holds what it read.
    fn read_over(&self) -> Vec<FillWaiter> {
        self.0.filling.set(false);
        std::mem::take(&mut *self.0.fill_waiters.borrow_mut())
    }

    /// Nobody waits for the read in progress any more (the operations that waited for it were
    /// canceled): gives it up before it reads, so that it neither holds the descriptor and the
    /// channel nor keeps the loop waiting for input nobody asked for. No byte is lost: a read
    /// still filed has read nothing (one that reads runs its continuation at once, which ends
    /// the fill). The next operation that needs data starts a read of its own. A read of the
    /// standard input, on the thread pool, cannot be given up and goes on.
    fn give_up_fill(&self) {
        let filed = {
            let wanted = self.0.fill_wanted.borrow();
            // A clone elsewhere: the read in progress is a job filed with the reactor.
            let filed = self.0.filling.get() && Rc::strong_count(&wanted) > 1;
            if filed {
                wanted.set(false);
            }
            filed
        };
        if filed {
            self.0.filling.set(false);
            if let Ok(fd) = self.0.owner.fd() {
                fd.forget_dead_waiters();
            }
        }
    }

    /// The flag for the next read filed with the reactor: the channel's own, unless a read
    /// given up still holds it (false), which keeps it.
    fn fill_flag(&self) -> Rc<Cell<bool>> {
        let mut wanted = self.0.fill_wanted.borrow_mut();
        if Rc::strong_count(&wanted) > 1 {
            *wanted = Rc::new(Cell::new(true));
        }
        wanted.set(true);
        wanted.clone()
    }

    /// Lets the callers of a read that added `n` bytes to the buffer go on, and keeps the
    /// list's memory for the next read.
    fn read_done(&self, mut waiting: Vec<FillWaiter>, n: usize) -> Outcome<usize> {
        for waiter in waiting.drain(..) {
            waiter.finish(Ok(n), true);
        }
        let mut list = self.0.fill_waiters.borrow_mut();
        if list.is_empty() && list.capacity() == 0 {
            *list = waiting;
        }
        Ok(n)
    }

    /// A wait for the read in progress, on a task of its own (see `set_position`).
    fn fill_waiter(&self) -> Promise<usize> {
        let (waiter, r) = task();
        self.add_fill_waiter(FillWaiter::Task(r));
        waiter
    }

    fn add_fill_waiter(&self, waiter: FillWaiter) {
        // A canceled wait is done with: keeping it would let a loop of canceled reads on a
        // silent channel grow the list for as long as the fill waits.
        let dead = self.take_dead_fill_waiters();
        self.0.fill_waiters.borrow_mut().push(waiter);
        drop(dead);
    }

    /// The waits for the read in progress that were canceled, for the caller to drop once it
    /// holds no borrow: dropping an operation's wait releases the channel's lock, which may run
    /// the next operation at once.
    fn take_dead_fill_waiters(&self) -> Vec<FillWaiter> {
        let mut waiters = self.0.fill_waiters.borrow_mut();
        if waiters.iter().all(FillWaiter::is_pending) {
            return Vec::new();
        }
        let (live, dead) = std::mem::take(&mut *waiters)
            .into_iter()
            .partition(FillWaiter::is_pending);
        *waiters = live;
        dead
    }

    /// How many bytes the next read of the descriptor asks for, for an operation that wants
    /// `want` (at least 1: a step asks for more only while what it needs is not all buffered).
    fn read_size(&self, want: Want) -> usize {
        let unread = self.unread_len();
        match want {
            Want::AtLeast(n) => {
                let (chunk, missing) = (self.0.chunk, n.saturating_sub(unread));
                if missing <= chunk {
                    chunk
                } else {
                    // Whole buffers: Lwt copies out what it holds and refills its emptied
                    // buffer until it has enough, so it takes this many bytes from the
                    // descriptor, and one read takes the same bytes with one system call.
                    missing.div_ceil(chunk).min(MAX_READ / chunk) * chunk
                }
            }
            Want::Block(n) => self.0.chunk.max(n).saturating_sub(unread).max(1),
        }
    }

    /// Runs `step` until it is done, filling the buffer in between. `step` gets the size of the
    /// last fill (`Some(0)`: the input just ended). Loops (rather than recursing) while fills
    /// complete at once, as they do on regular files.
    ///
    /// `held` is the channel's lock: it goes with the step into the wait for each fill and is
    /// dropped (released) when the operation ends, just before its promise resolves.
    fn drive<T: 'static>(
        &self,
        want: Want,
        last: Option<usize>,
        step: impl FnMut(&InputChannel, Option<usize>) -> Step<T> + 'static,
        held: Held,
    ) -> Promise<T> {
        match self.drive_held(want, last, step, held) {
            Driven::Over(outcome, held) => {
                drop(held);
                Promise::from_outcome(outcome)
            }
            Driven::Waiting(promise) => promise,
        }
    }

    /// [`drive`](Self::drive), which gives an operation that ends at once back with the lock
    /// still held, for the caller to release after it has given the outcome (see
    /// [`Resumption`]).
    fn drive_held<T: 'static>(
        &self,
        want: Want,
        mut last: Option<usize>,
        mut step: impl FnMut(&InputChannel, Option<usize>) -> Step<T> + 'static,
        held: Held,
    ) -> Driven<T> {
        loop {
            if self.0.closed.get() {
                return Driven::Over(Err(ChannelClosed("input").into()), held);
            }
            if let Some(done) = step(self, last) {
                return Driven::Over(done, held);
            }
            match self.fill_now(self.read_size(want)) {
                Some(Ok(n)) => last = Some(n),
                Some(Err(e)) => return Driven::Over(Err(self.read_error(e)), held),
                None => {
                    // The operation's promise is a task of its own, and its step and lock wait
                    // in the fill's list: one promise and one allocation for the wait, where a
                    // bind on a wait of its own took three. Canceling it tells this channel,
                    // which drops the wait (releasing the lock) at once.
                    let listener = Rc::downgrade(&self.0) as Weak<dyn CancelListener>;
                    let (result, r) = task_telling(listener);
                    self.add_fill_waiter(FillWaiter::Resume(Box::new(Resumption {
                        ch: self.clone(),
                        want,
                        step,
                        held,
                        result: r,
                    })));
                    return Driven::Waiting(result);
                }
            }
        }
    }

    /// The rejection of a failed read: [`ChannelClosed`] if the channel was closed meanwhile.
    fn read_error(&self, e: Exn) -> Exn {
        if self.0.closed.get() {
            ChannelClosed("input").into()
        } else {
            e
        }
    }

    /// Runs an operation under the channel's lock.
    fn op<T: 'static>(
        &self,
        want: usize,
        step: impl FnMut(&InputChannel, Option<usize>) -> Step<T> + 'static,
    ) -> Promise<T> {
        self.op_wanting(Want::AtLeast(want), step)
    }

    /// [`op`](Self::op) with the reads sized by `want`.
    fn op_wanting<T: 'static>(
        &self,
        want: Want,
        step: impl FnMut(&InputChannel, Option<usize>) -> Step<T> + 'static,
    ) -> Promise<T> {
        let me = self.clone();
        serialized_held(&self.0.lock, move |held| me.drive(want, None, step, held))
    }

    fn with_unread<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.0.buf.borrow()[self.0.pos.get()..])
    }

    // ---- operations ----

    /// Lwt_io's `read_char`: the next character, decoded from UTF-8. Rejected with
    /// [`EndOfFile`] at the end of input. Bytes that are not UTF-8 are consumed and the rejection
    /// is an [`InvalidUtf8`](super::InvalidUtf8) that holds them and says whether the sequence
    /// was invalid or cut short by the end of input (use [`read_byte`](InputChannel::read_byte)
    /// for binary data).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("é!").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_char()).unwrap(), 'é');
    /// assert_eq!(main::run(ic.read_char()).unwrap(), '!');
    /// assert!(main::run(ic.read_char()).unwrap_err().is::<io::EndOfFile>());
    /// ```
    pub fn read_char(&self) -> Promise<char> {
        self.op(4, char_step)
    }

    /// Lwt_io's `read_char_opt`: like [`read_char`](InputChannel::read_char), with `None` at the
    /// end of input.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("a").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_char_opt()).unwrap(), Some('a'));
    /// assert_eq!(main::run(ic.read_char_opt()).unwrap(), None);
    /// ```
    pub fn read_char_opt(&self) -> Promise<Option<char>> {
        self.op(4, |ch, last| char_step(ch, last).map(none_at_eof))
    }

    /// The next byte; rejected with [`EndOfFile`] at the end of input.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write([0xff_u8]).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_byte()).unwrap(), 0xff);
    /// ```
    pub fn read_byte(&self) -> Promise<u8> {
        self.op(1, |ch, last| {
            if ch.unread_len() > 0 {
                Some(Ok(ch.consume(1)[0]))
            } else {
                (last == Some(0)).then_some(Err(EndOfFile.into()))
            }
        })
    }

    /// Lwt_io's `read_line`: the next line, without its terminator (`"\n"` or `"\r\n"`). The last
    /// line of the input needs no terminator; at the end of input the rejection is
    /// [`EndOfFile`].
    ///
    /// A line longer than [`max_line_length`](InputChannel::max_line_length) is rejected with
    /// [`LineTooLong`] and stays in the channel (read it with [`read`](InputChannel::read)). A
    /// line that is not UTF-8 is consumed and the rejection is a
    /// [`FromUtf8Error`](std::string::FromUtf8Error) that holds its bytes;
    /// [`read_line_bytes`](InputChannel::read_line_bytes) reads lines as bytes.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("one\ntwo\r\n\nlast").bind(move |()| oc.close())).unwrap();
    /// for expected in ["one", "two", "", "last"] {
    ///     assert_eq!(main::run(ic.read_line()).unwrap(), expected);
    /// }
    /// assert!(main::run(ic.read_line()).unwrap_err().is::<io::EndOfFile>());
    /// ```
    pub fn read_line(&self) -> Promise<String> {
        self.op(0, line_step())
    }

    /// Lwt_io's `read_line_opt`: like [`read_line`](InputChannel::read_line), with `None` at the
    /// end of input.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("x\n").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_line_opt()).unwrap(), Some("x".to_string()));
    /// assert_eq!(main::run(ic.read_line_opt()).unwrap(), None);
    /// ```
    pub fn read_line_opt(&self) -> Promise<Option<String>> {
        // The line step with its end of input turned into `None` inside the operation, rather
        // than `read_line().map(Some).catch(..)`: two promises fewer per line.
        let mut step = line_step();
        self.op(0, move |ch, last| step(ch, last).map(none_at_eof))
    }

    /// [`read_line`](InputChannel::read_line) without the UTF-8 check: the line's bytes, as
    /// OCaml's `string` holds them (Lwt's `read_line` gives whatever bytes the line has). For
    /// input that is mostly text but may hold a stray byte (a log file, a legacy encoding).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write(b"caf\xe9\r\nnext\n").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_line_bytes()).unwrap(), b"caf\xe9");
    /// assert_eq!(main::run(ic.read_line_bytes_opt()).unwrap(), Some(b"next".to_vec()));
    /// assert_eq!(main::run(ic.read_line_bytes_opt()).unwrap(), None);
    /// ```
    pub fn read_line_bytes(&self) -> Promise<Vec<u8>> {
        self.op(0, line_bytes_step())
    }

    /// [`read_line_bytes`](InputChannel::read_line_bytes), with `None` at the end of input.
    pub fn read_line_bytes_opt(&self) -> Promise<Option<Vec<u8>>> {
        let mut step = line_bytes_step();
        self.op(0, move |ch, last| step(ch, last).map(none_at_eof))
    }

    /// The bytes up to and including the next `delimiter`, as Rust's
    /// [`BufRead::read_until`](std::io::BufRead::read_until) reads them: at the end of input,
    /// the bytes left without one, then an empty vector (not a rejection, as for
    /// [`read`](InputChannel::read)). Not in Lwt_io.
    ///
    /// The delimiter is kept, so a caller can tell a last line that ends in `\n` from one that
    /// does not, which [`read_line`](InputChannel::read_line) cannot (and a copy of a file
    /// read with `read_until(b'\n')` is the same bytes); with `b'\0'`, it reads NUL-separated
    /// records (`find -print0`). More than
    /// [`max_line_length`](InputChannel::max_line_length) bytes without a delimiter reject the
    /// read with [`LineTooLong`], and stay in the channel, as a long line does.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("one\ntwo").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_until(b'\n')).unwrap(), b"one\n");
    /// assert_eq!(main::run(ic.read_until(b'\n')).unwrap(), b"two"); // no newline at the end
    /// assert_eq!(main::run(ic.read_until(b'\n')).unwrap(), b"");
    /// ```
    pub fn read_until(&self, delimiter: u8) -> Promise<Vec<u8>> {
        self.op(0, until_step(delimiter))
    }

    /// Lwt_io's `read ~count`: at most `count` bytes, as soon as some are available; an empty
    /// vector at the end of input (not a rejection).
    ///
    /// `read(0)` gives an empty vector at once (in its turn; [`ChannelClosed`] on a closed
    /// channel), where Lwt's `read ~count:0` with nothing buffered first waits for input (it
    /// refills the buffer, then returns `""` and keeps what it read): a difference on purpose,
    /// as for [`read_into`](InputChannel::read_into) of an empty range, which Lwt's too gives
    /// at once.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("abc").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read(2)).unwrap(), b"ab");
    /// assert_eq!(main::run(ic.read(2)).unwrap(), b"c");
    /// assert_eq!(main::run(ic.read(2)).unwrap(), b"");
    /// ```
    pub fn read(&self, count: usize) -> Promise<Vec<u8>> {
        self.op(0, move |ch, last| {
            let n = ch.unread_len().min(count);
            if n > 0 || count == 0 || last == Some(0) {
                Some(Ok(ch.consume(n)))
            } else {
                None
            }
        })
    }

    /// Lwt_io's `read` without a count: everything up to the end of input (as much memory as
    /// the input needs).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("a\nb\n").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"a\nb\n");
    /// ```
    pub fn read_to_end(&self) -> Promise<Vec<u8>> {
        self.op(MAX_READ, |ch, last| {
            (last == Some(0)).then(|| Ok(ch.consume(ch.unread_len())))
        })
    }

    /// Lwt_io's `read_into`: reads up to `range.len()` bytes into `buf[range]` and gives the
    /// buffer back with how many it read: what the channel holds, or else what one read of the
    /// descriptor brings. 0 means the end of input (or an empty range), not an error. Like
    /// every operation on the channel it runs in its turn, and a closed channel rejects it with
    /// [`ChannelClosed`]. Moving
    /// the buffer in and out lets a loop read with one buffer and no allocation, as with
    /// [`Fd::read_into`](crate::unix::Fd::read_into).
    ///
    /// A range that does not lie within the buffer is rejected with
    /// [`InvalidArgument`](crate::InvalidArgument) before anything is read. If the read is
    /// canceled or fails, the buffer is dropped; bytes that arrive later stay in the channel.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("hello").bind(move |()| oc.close())).unwrap();
    /// let (buf, n) = main::run(ic.read_into(vec![b'.'; 6], 1..4)).unwrap();
    /// assert_eq!((&buf[..], n), (&b".hel.."[..], 3));
    /// let (buf, n) = main::run(ic.read_into(buf, 0..6)).unwrap();
    /// assert_eq!((&buf[..n], n), (&b"lo"[..], 2));
    /// assert_eq!(main::run(ic.read_into(buf, 0..6)).unwrap().1, 0); // the end of input
    /// ```
    pub fn read_into(&self, buf: Vec<u8>, range: Range<usize>) -> Promise<(Vec<u8>, usize)> {
        if let Err(e) = check_range("InputChannel::read_into", &buf, &range) {
            return Promise::fail(e);
        }
        let mut slot = Some(buf);
        // Under the lock even for an empty range, as Lwt's: in its turn, and `ChannelClosed` on
        // a closed channel.
        self.op(0, move |ch, last| {
            let n = ch.unread_len().min(range.len());
            if n == 0 && !range.is_empty() && last != Some(0) {
                return None; // nothing buffered: one read of the descriptor
            }
            Some(slot.take().ok_or_else(given_back).map(|mut buf| {
                ch.consume_into(&mut buf[range.start..range.start + n]);
                (buf, n)
            }))
        })
    }

    /// Lwt_io's `read_into_exactly`: fills `buf[range]` and gives the buffer back. If the input
    /// ends first, the rejection is [`EndOfFile`], the buffer is dropped, and the bytes that
    /// were there stay in the channel, as with [`read_exactly`](InputChannel::read_exactly)
    /// (Lwt's consumes them). A range that does not lie within the buffer is rejected with
    /// [`InvalidArgument`](crate::InvalidArgument).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("abcde").bind(move |()| oc.close())).unwrap();
    /// let buf = main::run(ic.read_into_exactly(vec![0; 4], 1..4)).unwrap();
    /// assert_eq!(buf, b"\0abc");
    /// assert!(main::run(ic.read_into_exactly(buf, 0..3)).unwrap_err().is::<io::EndOfFile>());
    /// assert_eq!(main::run(ic.read(10)).unwrap(), b"de"); // nothing lost
    /// ```
    pub fn read_into_exactly(&self, buf: Vec<u8>, range: Range<usize>) -> Promise<Vec<u8>> {
        if let Err(e) = check_range("InputChannel::read_into_exactly", &buf, &range) {
            return Promise::fail(e);
        }
        let mut slot = Some(buf);
        self.op(range.len(), move |ch, last| {
            if ch.unread_len() >= range.len() {
                Some(slot.take().ok_or_else(given_back).map(|mut buf| {
                    ch.consume_into(&mut buf[range.clone()]);
                    buf
                }))
            } else {
                (last == Some(0)).then_some(Err(EndOfFile.into()))
            }
        })
    }

    /// Lwt_io's `read_into_exactly`, returning the bytes: exactly `count` bytes. If the input
    /// ends first, the rejection is [`EndOfFile`] and the bytes that were there stay in the
    /// channel (Lwt's consumes them: they went into the caller's buffer, which the exception
    /// leaves behind; `tests/ocaml_diff_io.rs` shows both).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write("abcde").bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_exactly(3)).unwrap(), b"abc");
    /// assert!(main::run(ic.read_exactly(3)).unwrap_err().is::<io::EndOfFile>());
    /// assert_eq!(main::run(ic.read(10)).unwrap(), b"de"); // nothing lost
    /// ```
    pub fn read_exactly(&self, count: usize) -> Promise<Vec<u8>> {
        self.exactly(Want::AtLeast(count), count)
    }

    /// The `count` bytes of a binary number (Lwt's `read_block_unsafe`): a
    /// [`read_exactly`](Self::read_exactly) whose reads fill only the rest of the buffer (see
    /// [`Want::Block`]).
    pub(super) fn read_block(&self, count: usize) -> Promise<Vec<u8>> {
        self.exactly(Want::Block(count), count)
    }

    fn exactly(&self, want: Want, count: usize) -> Promise<Vec<u8>> {
        self.op_wanting(want, move |ch, last| {
            if ch.unread_len() >= count {
                Some(Ok(ch.consume(count)))
            } else {
                (last == Some(0)).then_some(Err(EndOfFile.into()))
            }
        })
    }
}

/// The length of the UTF-8 sequence that `first` starts (1 for a byte that cannot start one:
/// it is then reported as invalid on its own).
fn utf8_width(first: u8) -> usize {
    match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

/// A read step ran again after it gave its buffer back: `drive` stops at the first step that
/// is done, so this never happens; an error beats a panic anyway.
fn given_back() -> Exn {
    Exn::failure("the buffer of this read was already given back")
}

/// `read_char`'s step: one UTF-8 character, or the bytes of a broken sequence as the error.
fn char_step(ch: &InputChannel, last: Option<usize>) -> Step<char> {
    let eof = last == Some(0);
    let (take, width, invalid) = ch.with_unread(|avail| {
        let width = avail.first().map_or(1, |&b| utf8_width(b));
        let take = avail.len().min(width);
        // A sequence already broken by the bytes at hand needs no more input to fail:
        // waiting would hang a peer that sent one bad byte and waits for a reply.
        let invalid =
            matches!(std::str::from_utf8(&avail[..take]), Err(e) if e.error_len().is_some());
        (take, width, invalid)
    });
    if take == 0 {
        return eof.then_some(Err(EndOfFile.into()));
    }
    if take < width && !eof && !invalid {
        return None;
    }
    let bytes = ch.with_unread(|avail| avail[..take].to_vec());
    Some(match std::str::from_utf8(&bytes) {
        Ok(s) => {
            ch.consume(take);
            Ok(s.chars().next().unwrap_or_default())
        }
        Err(e) => {
            // Told from the whole look-ahead, not from the bytes consumed: `c3` alone looks cut
            // short, though the `28` after it proved it invalid.
            let truncated = e.error_len().is_none();
            let bad = e.error_len().unwrap_or(take);
            Err(super::InvalidUtf8::new(ch.consume(bad), truncated).into())
        }
    })
}

/// `read_line`'s step: scans the unread bytes for a newline (resuming where the last scan
/// stopped), and takes the line out once it is complete.
fn line_step() -> impl FnMut(&InputChannel, Option<usize>) -> Step<String> + 'static {
    let mut step = line_bytes_step();
    move |ch, last| step(ch, last).map(|line| String::from_utf8(line?).map_err(Exn::from))
}

/// [`line_step`] without the UTF-8 check: the line's bytes.
fn line_bytes_step() -> impl FnMut(&InputChannel, Option<usize>) -> Step<Vec<u8>> + 'static {
    let mut scanned = 0;
    move |ch, last| {
        let limit = ch.0.max_line.get();
        let found = ch.with_unread(|avail| {
            let newline = find_newline(&avail[scanned..]);
            match newline {
                Some(i) => {
                    let end = scanned + i;
                    let content = if end > 0 && avail[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                    Some((content, end + 1))
                }
                None => {
                    scanned = avail.len();
                    None
                }
            }
        });
        let too_long = || Some(Err(LineTooLong { limit }.into()));
        let (content, used) = match found {
            Some(found) => found,
            None if last == Some(0) => match ch.unread_len() {
                0 => return Some(Err(EndOfFile.into())),
                n => (n, n),
            },
            // One more byte may be the '\r' of a "\r\n".
            None if ch.unread_len() > limit.saturating_add(1) => return too_long(),
            None => return None,
        };
        if content > limit {
            return too_long();
        }
        let mut line = ch.consume(used);
        line.truncate(content);
        Some(Ok(line))
    }
}

/// [`InputChannel::read_until`]'s step: as [`line_bytes_step`], with any delimiter, which the
/// bytes keep, and an empty vector at the end of input.
fn until_step(
    delimiter: u8,
) -> impl FnMut(&InputChannel, Option<usize>) -> Step<Vec<u8>> + 'static {
    let mut scanned = 0;
    move |ch, last| {
        let limit = ch.0.max_line.get();
        let found = ch.with_unread(|avail| {
            let at = find_byte(&avail[scanned..], delimiter);
            if at.is_none() {
                scanned = avail.len();
            }
            at.map(|i| scanned + i)
        });
        let (content, used) = match found {
            Some(at) => (at, at + 1),
            None if last == Some(0) => (ch.unread_len(), ch.unread_len()),
            None if ch.unread_len() > limit => return Some(Err(LineTooLong { limit }.into())),
            None => return None,
        };
        if content > limit {
            return Some(Err(LineTooLong { limit }.into()));
        }
        Some(Ok(ch.consume(used)))
    }
}

/// The index of the first `\n` in `bytes` (see [`find_byte`]).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    find_byte(bytes, b'\n')
}

/// The index of the first `byte` in `bytes`, eight bytes at a time: a word with that byte has
/// a zero byte once XORed with eight copies of it, and the classic test for a zero byte sets the
/// high bit of the first one exactly (a false hit can only come above a true one). About a
/// quarter of the instructions of a byte-by-byte search on a 64-byte line.
#[inline(always)]
fn find_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let copies = u64::from_ne_bytes([byte; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight) ^ copies;
        let zero_bytes = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero_bytes != 0 {
            return Some(at + zero_bytes.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == byte).map(|i| at + i)
}

/// The end of input as `None`, inside an operation's step.
fn none_at_eof<T>(done: Result<T, Exn>) -> Result<Option<T>, Exn> {
    match done {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is::<EndOfFile>() => Ok(None),
        Err(e) => Err(e),
    }
}

/// An input channel that does not keep it alive (the socket's link to its input channel).
pub(super) struct WeakInputChannel(Weak<Input>);

impl WeakInputChannel {
    pub(super) fn upgrade(&self) -> Option<InputChannel> {
        self.0.upgrade().map(InputChannel)
    }
}

impl Channel for InputChannel {
    fn close(&self) -> Promise<()> {
        InputChannel::close(self)
    }

    fn abort(&self) -> Promise<()> {
        InputChannel::abort(self)
    }

    fn is_closed(&self) -> bool {
        InputChannel::is_closed(self)
    }
}

impl fmt::Debug for InputChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputChannel")
            .field("buffered", &self.buffered())
            .field("closed", &self.is_closed())
            .field("busy", &self.0.lock.is_busy())
            .finish()
    }
}

/// A caller waiting for the read in progress (see `Input::fill_waiters`).
enum FillWaiter {
    /// A wait of its own, resolved with the read's count (`set_position`).
    Task(Resolver<usize>),
    /// An operation that goes on with its step once the buffer holds what was read.
    Resume(Box<dyn Resume>),
}

impl FillWaiter {
    fn is_pending(&self) -> bool {
        match self {
            FillWaiter::Task(r) => r.is_pending(),
            FillWaiter::Resume(k) => k.is_pending(),
        }
    }

    /// The read is over with `outcome`. A task is woken with `wakeup_later` when `later` (from
    /// the read's own continuation, which runs as a callback), else with `wakeup` (`close`); an
    /// operation goes on at once, as a bind's callback on the read would, and when not `later`
    /// its promise's callbacks too run before this returns, as a `wakeup` runs them (a `close`
    /// called from a callback returns after the waiting reads' callbacks have run).
    fn finish(self, outcome: Outcome<usize>, later: bool) {
        match self {
            FillWaiter::Task(r) if later => r.wakeup_later_result(outcome),
            FillWaiter::Task(r) => r.wakeup_result(outcome),
            FillWaiter::Resume(k) if later => k.resume(outcome, false),
            FillWaiter::Resume(k) => crate::schedule::settle(move || k.resume(outcome, true)),
        }
    }
}

/// An operation waiting for a fill, whatever its result type (see [`Resumption`]).
trait Resume {
    /// Does its caller still wait (its promise was not canceled)?
    fn is_pending(&self) -> bool;
    /// The fill is over: run the step again, or fail. `now`: an outcome decided at once is
    /// given with a `wakeup` (its callbacks run before this returns), else with a
    /// `wakeup_later`.
    fn resume(self: Box<Self>, filled: Outcome<usize>, now: bool);
}

/// Where [`InputChannel::drive_held`] left an operation.
enum Driven<T> {
    /// It is over, the lock still held.
    Over(Outcome<T>, Held),
    /// It waits for a fill, its lock with it; or its step panicked (the lock went as the panic
    /// unwound, before this rejection is given; no step is user code, so only a bug of this
    /// module could get there).
    Waiting(Promise<T>),
}

/// What `drive` keeps of an operation while it waits for a fill: the step, the lock and the
/// resolver of the operation's promise.
struct Resumption<T: 'static, S> {
    ch: InputChannel,
    want: Want,
    step: S,
    held: Held,
    result: Resolver<T>,
}

impl<T: 'static, S> Resume for Resumption<T, S>
where
    S: FnMut(&InputChannel, Option<usize>) -> Step<T> + 'static,
{
    fn is_pending(&self) -> bool {
        self.result.is_pending()
    }

    fn resume(self: Box<Self>, filled: Outcome<usize>, now: bool) {
        let Resumption {
            ch,
            want,
            step,
            held,
            result,
        } = *self;
        if !result.is_pending() {
            return; // canceled: `held` goes, releasing the lock
        }
        // From here the step may consume bytes, and the lock may pass on to the next
        // operations (whose callbacks may cancel this one): a cancel must not reject it then and
        // lose those bytes. It ignores cancel until it waits for a fill again (the merge below
        // gives it that wait's link), as a bind's result whose callback is running does.
        result.ignore_cancel();
        let driven = match filled {
            // A panic in the step rejects the operation, as in a bind's callback (the lock goes
            // as the panic unwinds).
            Ok(n) => match catch_unwind(AssertUnwindSafe(|| {
                ch.drive_held(want, Some(n), step, held)
            })) {
                Ok(driven) => driven,
                Err(payload) => Driven::Waiting(Promise::fail(Exn::from_panic(payload))),
            },
            Err(e) => Driven::Over(Err(ch.read_error(e)), held),
        };
        match driven {
            // The outcome first, then the lock. From the fill's own continuation, both
            // hand-overs are `wakeup_later`s, whose callbacks run in this order once the running
            // callback returns: the caller's callbacks (a `close` there) come before the next
            // queued operation, which Lwt then rejects with `Channel_closed`. (Given with a
            // `wakeup` there, the callbacks ran nested, with the lock still held, and the
            // caller's next read queued behind it: line-echo +26 %; with the lock released
            // first, the next operation ran before them.) From `close` (`now`), the waiting
            // read's callbacks run before `close` returns, as a `wakeup`'s do.
            Driven::Over(outcome, held) => {
                if now {
                    result.wakeup_result(outcome);
                } else {
                    result.wakeup_later_result(outcome);
                }
                drop(held);
            }
            Driven::Waiting(next) => result.resolve_with(next),
        }
    }
}

impl CancelListener for Input {
    /// An operation waiting for a fill was canceled: its wait goes now, and the lock with it;
    /// if no other caller waits for the fill, the fill is given up first, so that an operation
    /// the lock passes to starts a read of its own rather than wait for that one.
    fn canceled(self: Rc<Self>) {
        let ch = InputChannel(self);
        let dead = ch.take_dead_fill_waiters();
        if !dead.is_empty() && ch.0.fill_waiters.borrow().is_empty() {
            ch.give_up_fill();
        }
        drop(dead);
    }
}

#[cfg(test)]
mod tests {
    use crate::{io, main};

    #[test]
    fn find_byte_agrees_with_a_byte_by_byte_search_for_every_byte() {
        let mut seed = 11u64;
        let mut bytes = Vec::new();
        for target in 0..=255u8 {
            for _ in 0..200 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = (seed >> 40) as usize % 40;
                bytes.clear();
                for i in 0..len {
                    // Mostly the bytes around `target`, whose bit patterns a wrong test confuses.
                    let r = (seed >> (i % 32)) as u8;
                    bytes.push(target.wrapping_add(r % 5).wrapping_sub(2) ^ (r & 0x80));
                }
                let expected = bytes.iter().position(|&b| b == target);
                assert_eq!(
                    super::find_byte(&bytes, target),
                    expected,
                    "{target} in {bytes:?}"
                );
            }
        }
    }

    #[test]
    fn find_newline_agrees_with_a_byte_by_byte_search() {
        let mut bytes = Vec::new();
        for len in 0..80usize {
            for at in (0..len).chain([usize::MAX]) {
                bytes.clear();
                bytes.extend((0..len).map(|i| if i == at { b'\n' } else { b'a' + (i % 7) as u8 }));
                if at != usize::MAX && at + 3 < len {
                    bytes[at + 3] = b'\n'; // a second one after the first
                }
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(super::find_newline(&bytes), expected, "len {len}, at {at}");
            }
        }
        // Bytes next to `\n` in value or bit pattern, on either side of the first one.
        let near = [0x0b, 0x09, 0x8a, 0x00, 0x01, 0x80, 0xff, 0x0a];
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let len = (seed % 40) as usize;
            bytes.clear();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                bytes.push(near[(seed >> 33) as usize % near.len()]);
            }
            seed = seed.wrapping_add(len as u64 + 1);
            let expected = bytes.iter().position(|&b| b == b'\n');
            assert_eq!(super::find_newline(&bytes), expected, "{bytes:?}");
        }
    }

    /// Found in review: reading into a spare buffer and copying into the channel's buffer kept
    /// the memory a long line had grown, for as long as the channel lived.
    #[test]
    fn a_long_line_read_through_gives_its_memory_back() {
        let (ic, oc) = io::pipe().unwrap();
        let long = "x".repeat(15_000);
        main::run(oc.write_line(&long).bind({
            let oc = oc.clone();
            move |()| oc.flush()
        }))
        .unwrap();
        assert_eq!(main::run(ic.read_line()).unwrap(), long);
        let grown = ic.0.buf.borrow().capacity();
        assert!(
            grown > ic.0.chunk,
            "the line made the buffer grow ({grown})"
        );
        main::run(oc.write_line("short").bind({
            let oc = oc.clone();
            move |()| oc.flush()
        }))
        .unwrap();
        assert_eq!(main::run(ic.read_line()).unwrap(), "short");
        let kept = ic.0.buf.borrow().capacity();
        assert!(kept <= ic.0.chunk, "kept {kept} bytes after the long line");
    }

    /// Found in review: a closed channel kept its spare read buffer.
    #[test]
    fn closing_drops_the_spare_buffer() {
        let (ic, oc) = io::pipe().unwrap();
        main::run(oc.write_line("one").bind(move |()| oc.flush())).unwrap();
        assert_eq!(main::run(ic.read_line()).unwrap(), "one");
        assert_eq!(ic.0.spare.borrow().len(), ic.0.chunk);
        main::run(ic.close()).unwrap();
        assert_eq!(ic.0.spare.borrow().capacity(), 0);
    }
}
