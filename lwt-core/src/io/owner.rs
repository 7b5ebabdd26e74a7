//! Who closes a channel's descriptor, and how (private).
//!
//! A channel made with `of_fd` owns its descriptor and closes it. The two channels of a
//! connection share one socket:
//!
//! * closing the output channel shuts the sending side down (the peer sees the end of input)
//!   and leaves the input channel reading: the peer's reply still arrives;
//! * closing the input channel closes the connection, as Lwt's close does with either channel:
//!   it closes the output channel first (which writes out what it holds), then shuts the socket
//!   down both ways and closes it, so the peer's reader sees the end of input and its writers
//!   fail instead of waiting for room. Canceling that close skips the wait for the output.
//! * aborting either channel (Lwt's `abort`) closes the connection at once, and both channels
//!   with it, without writing out what the output channel holds.

use std::cell::RefCell;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use super::input::{InputChannel, WeakInputChannel};
use super::output::{OutputChannel, WeakOutputChannel};
use crate::exn::Exn;
use crate::promise::Promise;
use crate::unix::Fd;

pub(crate) struct Socket {
    fd: Fd,
    /// The output channel on this socket, closed first when the input channel closes. Weak: the
    /// output channel holds the socket, and one that nobody holds any more has nothing to write.
    output: RefCell<Option<WeakOutputChannel>>,
    /// The input channel on this socket, closed with the connection when a channel is aborted.
    /// Weak for the same reason.
    input: RefCell<Option<WeakInputChannel>>,
}

impl Socket {
    /// Shuts the socket down both ways and closes it (Lwt's `close_socket`). The shutdown makes
    /// the peer see the end even if another process shares the descriptor; it fails if the peer
    /// is gone already (`ENOTCONN`), which changes nothing.
    fn close(&self) -> io::Result<()> {
        let _ = self.fd.shutdown(Shutdown::Both);
        close_fd(&self.fd)
    }
}

pub(crate) enum Owner {
    /// The channel owns the descriptor.
    Fd(Fd),
    /// The channel owns a duplicate of one of the process's standard streams, and closing the
    /// channel ends that stream (see [`Standard::end`]).
    Standard(Fd, Standard),
    /// A socket shared with the channel for the other direction.
    Socket(Rc<Socket>),
    /// The descriptor could not be made (a standard stream that is not open): every operation is
    /// rejected with this error.
    Failed(Exn),
}

/// Closes `fd`. A descriptor that was already closed under the channel (with [`Fd::close`]) is
/// not an error.
fn close_fd(fd: &Fd) -> io::Result<()> {
    if fd.is_open() {
        fd.close()
    } else {
        Ok(())
    }
}

/// One of the process's standard streams, which the channels of `io::stdin()`, `io::stdout()`
/// and `io::stderr()` hold a duplicate of (each thread's loop has its own channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standard {
    Input,
    Output,
    Error,
}

impl fmt::Display for Standard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Standard::Input => "standard input",
            Standard::Output => "standard output",
            Standard::Error => "standard error",
        })
    }
}

impl Standard {
    /// Ends the stream as Lwt's close of descriptor 0, 1 or 2 does, so that the process at the
    /// other end of a pipe sees the end of input (or its writes fail) while this one goes on:
    /// closing the channel's duplicate alone leaves the process's own descriptor open until it
    /// exits. That descriptor is pointed at `/dev/null` rather than closed, so that its number
    /// is not reused by the next file opened, which `println!` would then write into.
    fn end(self) -> io::Result<()> {
        let null = match self {
            Standard::Input => File::open("/dev/null"),
            Standard::Output | Standard::Error => OpenOptions::new().write(true).open("/dev/null"),
        };
        let ended = null.and_then(|null| {
            match self {
                Standard::Input => rustix::stdio::dup2_stdin(&null),
                Standard::Output => rustix::stdio::dup2_stdout(&null),
                Standard::Error => rustix::stdio::dup2_stderr(&null),
            }
            .map_err(io::Error::from)
        });
        ended.map_err(|e| crate::unix::naming(format!("ending the {self}"), e))
    }
}

/// Closes a standard stream's duplicate `fd`, then ends the stream itself, once.
fn close_standard(fd: &Fd, which: Standard) -> io::Result<()> {
    if !fd.is_open() {
        return Ok(());
    }
    fd.close()?;
    which.end()
}

impl Owner {
    /// Two owners sharing `fd`: (input half, output half). [`Owner::pair_with`] then tells the
    /// socket which output channel the input's close closes.
    pub(crate) fn socket(fd: Fd) -> (Owner, Owner) {
        let shared = Rc::new(Socket {
            fd,
            output: RefCell::new(None),
            input: RefCell::new(None),
        });
        (Owner::Socket(shared.clone()), Owner::Socket(shared))
    }

    /// Records `ic` and `oc` as the two channels of this socket.
    pub(crate) fn pair_with(&self, ic: &InputChannel, oc: &OutputChannel) {
        if let Owner::Socket(s) = self {
            *s.output.borrow_mut() = Some(oc.downgrade());
            *s.input.borrow_mut() = Some(ic.downgrade());
        }
    }

    pub(crate) fn fd(&self) -> Result<&Fd, Exn> {
        match self {
            Owner::Fd(fd) | Owner::Standard(fd, _) => Ok(fd),
            Owner::Socket(s) => Ok(&s.fd),
            Owner::Failed(e) => Err(e.clone()),
        }
    }

    /// Moves the descriptor to byte `pos` of its file (`set_position`).
    pub(crate) fn seek_to(&self, pos: u64) -> Result<u64, Exn> {
        Ok(self.fd()?.seek_to(pos)?)
    }

    /// The size of the descriptor's file (`length`).
    pub(crate) fn file_length(&self) -> Result<u64, Exn> {
        Ok(self.fd()?.file_length()?)
    }

    /// The output channel's close, once its buffer is written out: closes the descriptor, or on
    /// a socket shuts the sending side down (the input channel's close closes the socket).
    pub(crate) fn close_output(&self) -> io::Result<()> {
        match self {
            Owner::Fd(fd) => close_fd(fd),
            Owner::Standard(fd, which) => close_standard(fd, *which),
            Owner::Socket(s) => {
                // The peer may be gone already (ENOTCONN): the shutdown is a courtesy.
                let _ = s.fd.shutdown(Shutdown::Write);
                Ok(())
            }
            Owner::Failed(_) => Ok(()),
        }
    }

    /// The input channel's close: closes the descriptor at once, or on a socket closes the
    /// connection (see the module docs). Rejected with the output channel's close error, if
    /// closing it fails, or with the close's.
    pub(crate) fn close_input(&self) -> Promise<()> {
        match self {
            Owner::Fd(fd) => Promise::of_result(close_fd(fd)),
            Owner::Standard(fd, which) => Promise::of_result(close_standard(fd, *which)),
            Owner::Socket(s) => {
                // Reading stops now: a Unix-domain peer's next write fails at once, rather than
                // filling the socket while the output is written out.
                let _ = s.fd.shutdown(Shutdown::Read);
                let output = s
                    .output
                    .borrow()
                    .as_ref()
                    .and_then(WeakOutputChannel::upgrade);
                let flushed = match &output {
                    Some(oc) => oc.close(),
                    None => Promise::ret(()),
                };
                let socket = s.clone();
                flushed.finalize(move || {
                    if let Some(oc) = output {
                        // If the close was canceled before the output's own close ran, the
                        // output channel is closed all the same: its socket is gone.
                        oc.socket_closed();
                    }
                    Promise::of_result(socket.close())
                })
            }
            Owner::Failed(_) => Promise::ret(()),
        }
    }

    /// Either channel's `abort` (Lwt's): closes the descriptor at once, or on a socket closes
    /// the connection at once, and both its channels with it. Nothing buffered is written out;
    /// the operations in progress fail. Aborting again does nothing more.
    pub(crate) fn abort(&self) -> io::Result<()> {
        match self {
            Owner::Fd(fd) => close_fd(fd),
            Owner::Standard(fd, which) => close_standard(fd, *which),
            Owner::Socket(s) => {
                // Upgraded first: marking a channel closed must not run under these borrows.
                let output = s
                    .output
                    .borrow()
                    .as_ref()
                    .and_then(WeakOutputChannel::upgrade);
                let input = s
                    .input
                    .borrow()
                    .as_ref()
                    .and_then(WeakInputChannel::upgrade);
                if let Some(oc) = output {
                    oc.socket_aborted();
                }
                if let Some(ic) = input {
                    ic.socket_closed();
                }
                s.close()
            }
            Owner::Failed(_) => Ok(()),
        }
    }
}
