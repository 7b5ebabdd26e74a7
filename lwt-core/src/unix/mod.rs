//! The Unix layer (Lwt's `Lwt_unix`): timers, file descriptors, pipes, sockets, files, signals.
//!
//! * [`time`]: `sleep`, `timeout`, `with_timeout`;
//! * [`fd`]: [`Fd`], non-blocking reads and writes on the loop's reactor;
//! * [`net`]: `pipe`, `socketpair`, TCP and Unix-domain sockets, `getaddrinfo`, `open_file`;
//! * [`signal`]: `on_signal`, `disable_signal_handler`.
//!
//! | Lwt_unix | here |
//! |---|---|
//! | `sleep 0.5`, `timeout`, `with_timeout` | [`sleep_secs`]`(0.5)` or [`sleep`]`(Duration)`, [`timeout`], [`with_timeout`] (a `Duration`) |
//! | `yield` | [`main::yield_`](crate::main::yield_) (a `pause`) |
//! | `auto_yield`, `auto_pause` | [`auto_yield`], [`auto_pause`] (a `Duration`) |
//! | `file_descr`, `of_unix_file_descr`, `read`, `write`, `wait_read`, `close` | [`Fd`], [`Fd::from_owned`], [`Fd::read`], [`Fd::write`], [`Fd::wait_read`], [`Fd::close`] |
//! | `pipe`, `socketpair`, `openfile` | [`pipe`], [`socketpair`], [`open_file`] |
//! | `socket` + `connect`, `bind` + `listen` + `accept` | [`connect_tcp`], [`connect_unix`], [`Listener`] |
//! | `getaddrinfo` | [`getaddrinfo`] |
//! | `on_signal`, `on_signal_full`, `disable_signal_handler`, `signal_count` | [`signal`]'s functions of the same names |
//! | `stat`, `unlink`, `files_of_directory` and the other system calls | `std::fs` on the pool: `preemptive::detach(move \|\| std::fs::metadata(path))` |
//!
//! Other sockets (UDP, raw, with options `std` sets: `setsockopt`'s) are made with the
//! standard library and handed to the loop with [`Fd::from_owned`], which makes them
//! non-blocking. A connected datagram socket then reads and writes whole datagrams; for
//! `recvfrom`/`sendto`, keep a [`try_clone`](std::net::UdpSocket::try_clone) of the socket, wait
//! with [`Fd::wait_read`] / [`Fd::wait_write`], and call `recv_from` / `send_to` on the clone
//! (it shares the non-blocking descriptor):
//!
//! ```
//! use std::net::UdpSocket;
//! use lwt_core::{main, unix::Fd};
//!
//! let a = UdpSocket::bind("127.0.0.1:0").unwrap();
//! let b = UdpSocket::bind("127.0.0.1:0").unwrap();
//! a.connect(b.local_addr().unwrap()).unwrap();
//! let b_socket = b.try_clone().unwrap();
//! let (a, b) = (Fd::from_owned(a.into()).unwrap(), Fd::from_owned(b.into()).unwrap());
//!
//! let received = b.wait_read().map(move |()| {
//!     let mut buf = [0; 1500];
//!     let (n, from) = b_socket.recv_from(&mut buf).unwrap();
//!     (buf[..n].to_vec(), from)
//! });
//! assert!(received.is_pending());
//! main::run(a.write(b"ping".to_vec())).unwrap();
//! let (datagram, _from) = main::run(received).unwrap();
//! assert_eq!(datagram, b"ping");
//! ```
//!
//! Not provided: `Lwt_timeout` (a [`sleep`] and [`cancel`](crate::Promise::cancel) do its
//! work), `Lwt_engine` (the reactor is [mio](https://docs.rs/mio)'s epoll, not pluggable),
//! `Lwt_process` (`std::process` on the pool, or its pipes handed to [`Fd::from_owned`]), and
//! `reinstall_signal_handler` (see [`signal`]).

pub mod fd;
pub mod net;
pub mod signal;
pub mod time;

pub use fd::Fd;
pub use net::{
    connect_tcp, connect_unix, getaddrinfo, open_file, pipe, socketpair, Listener, NamedError,
    SOMAXCONN,
};
pub(crate) use net::{naming, naming_as, naming_attempts, os_error_number};
pub use time::{
    auto_pause, auto_yield, sleep, sleep_secs, sleep_until, timeout, timer_count, with_timeout,
    Timeout, FOREVER,
};

/// A blocking-mode [`Fd`] for the process's standard input (reads go through the thread pool,
/// so input redirected from a file or `/dev/null` works too).
pub fn stdin() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stdin().as_fd())
}

/// A blocking-mode [`Fd`] for the process's standard output (writes go through the thread pool,
/// so a reader that does not keep up never blocks the loop).
///
/// ```
/// use lwt_core::{main, unix};
/// let out = unix::stdout().unwrap();
/// assert_eq!(main::run(out.write(b"hello from an Fd\n".to_vec())).unwrap(), 17);
/// ```
pub fn stdout() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stdout().as_fd())
}

/// A blocking-mode [`Fd`] for the process's standard error (written through the thread pool, as
/// [`stdout`]'s output is).
pub fn stderr() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stderr().as_fd())
}
