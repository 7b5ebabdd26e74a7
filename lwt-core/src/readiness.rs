//! What the last reads and writes on a TCP socket showed of its kernel buffers, so that a read
//! (or write) bound to fail with `EAGAIN` is not tried.
//!
//! A read on a non-blocking descriptor is tried first and waits for the reactor only if it
//! would block (as in Lwt). A server that reads each request into a buffer bigger than the
//! request pays for that with a failing `recv` after every request: the request is read, the
//! reply written, and the next read finds nothing. But a TCP socket's `recv` stops short of the
//! buffer only when the socket's receive queue has no more data, or at urgent data (below), so
//! a *short* read already says the next one would block: until the reactor reports the socket
//! readable again, reads wait without trying. The same holds for a short `send` and a full send
//! buffer. (tokio makes the same inference, for Unix-domain sockets too; see its issue 5866.)
//!
//! Why no wake-up is lost: the reactor is edge-triggered, and every arrival of data (or room, or
//! a hang-up) after the short transfer is an edge, reported by a later poll, which clears the
//! flag of each direction it reports before the waiting operation retries. Some things are not
//! arrivals after the short read but conditions whose one event may have been reported before
//! it, and after which a short read does not mean a drained queue:
//! * the end of input and an error: a read after them does not block (it gives the end or the
//!   error);
//! * TCP urgent data (`MSG_OOB`, sent by the peer): a read stops short at the urgent mark, with
//!   ordinary data queued behind it. The socket is registered for `EPOLLPRI`, which reports it.
//!
//! Once an event has reported one of them, the flag of that direction is never set again
//! (`*_final`): the optimization is off for that socket, which is always safe. (An error can be
//! transient, an entry on the error queue: it still switches the optimization off.) Found by
//! the test `large_transfers_through_short_writes_and_short_reads_lose_nothing`, where the end
//! of input came in the same event as the last data; the urgent-data case by review, as a read
//! that waited for ever.
//!
//! Where it is not used: files (pipes, terminals, devices: a terminal gives one line per read),
//! Unix-domain sockets (a read stops after a message that carries descriptors, or at
//! out-of-band data, or between writers when credentials are passed, and no event reports the
//! first), and zero-byte transfers (the end of input, an empty buffer). A receive low-water mark
//! (`SO_RCVLOWAT`) raised through the raw descriptor makes a read after a short one wait for
//! that mark, as the reactor does, where a tried read would have returned less.
//!
//! Invariants:
//! * A flag is only set on a descriptor registered with the reactor, whose entry shares this
//!   value: an unregistered one would never see the event that clears it.
//! * `*_exhausted` is never set once `*_final` is.

use std::cell::Cell;

use mio::event::Event;

/// The readiness knowledge one descriptor shares with its reactor entry.
#[derive(Default)]
pub(crate) struct Readiness {
    /// A short read showed the input drained, and no event has said readable since.
    read_exhausted: Cell<bool>,
    /// A short write showed the output buffer full, and no event has said writable since.
    write_exhausted: Cell<bool>,
    /// An event said the input is closed, the descriptor in error, or urgent data arrived:
    /// final.
    read_final: Cell<bool>,
    /// An event said the output is closed or the descriptor in error: final.
    write_final: Cell<bool>,
}

impl Readiness {
    /// Would a read (a write) only fail with `WouldBlock` until the next event?
    #[inline]
    pub(crate) fn is_exhausted(&self, write: bool) -> bool {
        if write {
            self.write_exhausted.get()
        } else {
            self.read_exhausted.get()
        }
    }

    /// A short read (write) showed the buffer drained (full).
    #[inline]
    pub(crate) fn set_exhausted(&self, write: bool) {
        if write {
            self.write_exhausted.set(!self.write_final.get());
        } else {
            self.read_exhausted.set(!self.read_final.get());
        }
    }

    /// The reactor reported the descriptor: whatever arrived since the short transfer, this is
    /// the news of it, for each direction the event reports.
    pub(crate) fn note_event(&self, event: &Event) {
        if event.is_read_closed() || event.is_error() || event.is_priority() {
            self.read_final.set(true);
        }
        if event.is_write_closed() || event.is_error() {
            self.write_final.set(true);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read_exhausted.set(false);
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.write_exhausted.set(false);
        }
    }
}
