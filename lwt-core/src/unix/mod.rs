//! The Unix layer (Lwt's `Lwt_unix`): timers, file descriptors, pipes, sockets, files.
//!
//! * [`time`]: `sleep`, `timeout`, `with_timeout`;
//! * [`fd`]: [`Fd`], non-blocking reads and writes on the loop's reactor;
//! * [`net`]: `pipe`, `socketpair`, TCP and Unix-domain sockets, `getaddrinfo`, `open_file`.

pub mod fd;
pub mod net;
pub mod time;

pub use fd::Fd;
pub use net::{connect_tcp, connect_unix, getaddrinfo, open_file, pipe, socketpair, Listener};
pub use time::{
    sleep, sleep_secs, sleep_until, timeout, timer_count, with_timeout, Timeout, FOREVER,
};

/// A blocking-mode [`Fd`] for the process's standard input (reads go through the thread pool,
/// so input redirected from a file or `/dev/null` works too).
pub fn stdin() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stdin().as_fd())
}

/// A blocking-mode [`Fd`] for the process's standard output.
pub fn stdout() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stdout().as_fd())
}

/// A blocking-mode [`Fd`] for the process's standard error.
pub fn stderr() -> std::io::Result<Fd> {
    use std::os::fd::AsFd;
    Fd::std_stream(std::io::stderr().as_fd())
}
