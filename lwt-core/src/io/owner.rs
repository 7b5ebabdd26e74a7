//! Who closes a channel's descriptor, and how (private).
//!
//! A channel made with `of_fd` owns its descriptor and closes it. The two channels of a
//! connection share one socket: closing the output channel shuts the write side down (the peer
//! sees the end of input), closing the input channel shuts the read side down, and the socket is
//! closed when both are.

use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use crate::exn::Exn;
use crate::unix::Fd;

pub(crate) struct Socket {
    fd: Fd,
    open_halves: Cell<u8>,
}

pub(crate) enum Owner {
    /// The channel owns the descriptor.
    Fd(Fd),
    /// One half of a socket shared with the channel for the other direction.
    Socket(Rc<Socket>),
    /// The descriptor could not be made (a standard stream that is not open): every operation is
    /// rejected with this error.
    Failed(Exn),
}

impl Owner {
    /// Two owners sharing `fd`: (input half, output half).
    pub(crate) fn socket(fd: Fd) -> (Owner, Owner) {
        let shared = Rc::new(Socket {
            fd,
            open_halves: Cell::new(2),
        });
        (Owner::Socket(shared.clone()), Owner::Socket(shared))
    }

    pub(crate) fn fd(&self) -> Result<&Fd, Exn> {
        match self {
            Owner::Fd(fd) => Ok(fd),
            Owner::Socket(s) => Ok(&s.fd),
            Owner::Failed(e) => Err(e.clone()),
        }
    }

    /// Closes this channel's use of the descriptor. A descriptor that was already closed under the
    /// channel (with [`Fd::close`]) is not an error.
    pub(crate) fn close(&self, half: Shutdown) -> io::Result<()> {
        let close = |fd: &Fd| if fd.is_open() { fd.close() } else { Ok(()) };
        match self {
            Owner::Fd(fd) => close(fd),
            Owner::Socket(s) => {
                // The peer may be gone already (ENOTCONN): the shutdown is a courtesy.
                let _ = s.fd.shutdown(half);
                let left = s.open_halves.get().saturating_sub(1);
                s.open_halves.set(left);
                if left == 0 {
                    close(&s.fd)
                } else {
                    Ok(())
                }
            }
            Owner::Failed(_) => Ok(()),
        }
    }
}
