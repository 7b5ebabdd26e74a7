//! Pipes, sockets, name resolution and files (Lwt_unix's).
//!
//! Tests and examples bind to loopback only.
//!
//! ```
//! use lwt_core::{main, unix};
//!
//! let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = listener.accept().bind(|(conn, _peer)| {
//!     conn.read(5).bind(move |msg| conn.write_all(msg))
//! });
//! let client = unix::connect_tcp(addr).bind(|conn| {
//!     conn.write_all(b"hello".to_vec()).bind(move |()| conn.read(5))
//! });
//! let (echo, ()) = main::run(lwt_core::both(client, server)).unwrap();
//! assert_eq!(echo, b"hello");
//! ```

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::fd::{Fd, Kind};
use crate::exn::Exn;
use crate::preemptive;
use crate::promise::Promise;

/// Lwt_unix's `pipe`: a non-blocking pipe, `(read end, write end)`.
///
/// ```
/// let (r, w) = lwt_core::unix::pipe().unwrap();
/// assert!(r.is_open() && w.is_open());
/// ```
pub fn pipe() -> io::Result<(Fd, Fd)> {
    let (sender, receiver) = mio::unix::pipe::new()?;
    let r = Fd::from_owned(receiver.into())?;
    let w = Fd::from_owned(sender.into())?;
    Ok((r, w))
}

/// `e` with `address` in front of its message: an error that says only "Address already in use"
/// or "Connection refused" leaves the reader to guess which of a program's addresses it is about.
/// The kind stays, so callers still match on it; `e` itself stays inside, as the [`NamedError`]
/// that [`NamedError::of`] finds, so its OS error number is not lost (a rebuilt message would
/// keep only the kind, which for some numbers is `Uncategorized`).
pub(crate) fn naming(address: impl Display, e: io::Error) -> io::Error {
    naming_as(e.kind(), address, e)
}

/// [`naming`], with `kind` instead of `e`'s own: for an OS error whose kind says less than
/// the call's context does.
pub(crate) fn naming_as(kind: io::ErrorKind, address: impl Display, e: io::Error) -> io::Error {
    io::Error::new(
        kind,
        NamedError {
            name: address.to_string(),
            earlier: Vec::new(),
            error: e,
        },
    )
}

/// [`naming`] for the last of several attempts that all failed (the addresses of a host name):
/// the `earlier` attempts' messages are printed before `last`'s.
pub(crate) fn naming_attempts(
    kind: io::ErrorKind,
    name: String,
    earlier: Vec<String>,
    last: io::Error,
) -> io::Error {
    io::Error::new(
        kind,
        NamedError {
            name,
            earlier,
            error: last,
        },
    )
}

/// `e`'s OS error number: its own, or that of the error a [`NamedError`] in it wraps (see
/// [`NamedError::raw_os_error`]).
pub(crate) fn os_error_number(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| NamedError::of(e)?.raw_os_error())
}

/// Is `path` a name in Linux's abstract namespace (it starts with a NUL byte) rather than a file?
pub(crate) fn is_abstract(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().first() == Some(&0)
}

/// A Unix-domain socket's path as an error names it: an abstract name as `@name`, as `ss` and
/// `netstat` show it (its NUL byte would print as is).
fn socket_name(path: &Path) -> String {
    if is_abstract(path) {
        use std::os::unix::ffi::OsStrExt;
        format!(
            "@{}",
            String::from_utf8_lossy(&path.as_os_str().as_bytes()[1..])
        )
    } else {
        path.display().to_string()
    }
}

/// The socket address of a Unix-domain `path`: a file, or, when it starts with a NUL byte, a
/// name in Linux's abstract namespace. (`SocketAddr::from_pathname` refuses the NUL byte, and
/// on other systems so does this.)
fn unix_address(path: &Path) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if is_abstract(path) {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        return std::os::unix::net::SocketAddr::from_abstract_name(
            &path.as_os_str().as_bytes()[1..],
        );
    }
    std::os::unix::net::SocketAddr::from_pathname(path)
}

/// An I/O error and the address or path it is about: the error inside the `io::Error`s of
/// binds, connects and file opens, and of reads and writes on a descriptor opened by path. It
/// prints as `"<name>: <error>"`, e.g. `"127.0.0.1:1: Connection refused (os error 111)"`.
///
/// Its [`source`](std::error::Error::source) is `None`: the OS error's text is already in its
/// message, and an error that also gave it as its source would have it printed twice by every
/// printer that walks the chain (anyhow's `{:#}`, `eyre`, a log line of causes). The OS error
/// itself is reached through [`NamedError::of`] and [`NamedError::error`], and its number
/// through [`NamedError::raw_os_error`].
///
/// A connection or listener by host name whose every address failed is one too, named by the
/// host (`localhost:7000`), printing each address's error in the order tried; its
/// [`error`](NamedError::error) is the last attempt's.
///
/// ```
/// use lwt_core::unix::{self, NamedError};
///
/// let closed = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
/// let addr = closed.local_addr().unwrap();
/// closed.close().unwrap();
/// let e = lwt_core::main::run(unix::connect_tcp(addr)).unwrap_err();
/// let e = e.downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
/// let named = NamedError::of(e).unwrap();
/// assert_eq!(named.name(), addr.to_string());
/// assert_eq!(named.raw_os_error(), Some(111)); // ECONNREFUSED
/// assert_eq!(e.to_string(), format!("{addr}: {}", named.error()));
/// assert!(std::error::Error::source(e).is_none());
/// ```
#[derive(Debug)]
pub struct NamedError {
    name: String,
    /// The messages of earlier attempts that failed too, printed before `error`'s.
    earlier: Vec<String>,
    error: io::Error,
}

impl NamedError {
    /// The `NamedError` inside `e`, if `e` is one of the errors that name what they are about.
    pub fn of(e: &io::Error) -> Option<&NamedError> {
        e.get_ref()?.downcast_ref()
    }

    /// The address or path the error is about, as the message shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error named: the system's own, or itself a `NamedError` when the error is named
    /// twice over (a socket option on a descriptor opened by path names the method, then the
    /// path; a host name's last address names the address, then the host).
    /// [`raw_os_error`](NamedError::raw_os_error) finds the number through these.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The operating system's error number of the error named, through any `NamedError`s
    /// nested in it.
    ///
    /// ```
    /// use lwt_core::unix::{self, NamedError};
    /// let e = unix::Listener::bind_unix("/no/such/dir/socket").unwrap_err();
    /// assert_eq!(NamedError::of(&e).unwrap().raw_os_error(), Some(2)); // ENOENT
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        let mut e = &self.error;
        loop {
            if let Some(number) = e.raw_os_error() {
                return Some(number);
            }
            e = NamedError::of(e)?.error();
        }
    }
}

impl Display for NamedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.name)?;
        for attempt in &self.earlier {
            write!(f, "{attempt}; ")?;
        }
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for NamedError {}

/// A connected pair of Unix-domain stream sockets (Lwt_unix's `socketpair`).
///
/// ```
/// use lwt_core::{main, unix};
/// let (a, b) = unix::socketpair().unwrap();
/// main::run(a.write_all(b"hi".to_vec())).unwrap();
/// assert_eq!(main::run(b.read(2)).unwrap(), b"hi");
/// ```
pub fn socketpair() -> io::Result<(Fd, Fd)> {
    let (a, b) = UnixStream::pair()?;
    Ok((Fd::unix(a)?, Fd::unix(b)?))
}

/// The length of the queue of connections waiting for an `accept` that
/// [`io::establish_server`](crate::io::establish_server) asks for: the C library's `SOMAXCONN`
/// on Linux (glibc 2.32 and later), Lwt_io's default. The system caps it at its own limit
/// (`/proc/sys/net/core/somaxconn`, also 4096 since Linux 5.4).
///
/// ```
/// assert_eq!(lwt_core::unix::SOMAXCONN, 4096);
/// ```
pub const SOMAXCONN: u32 = 4096;

/// A listening socket (TCP or Unix-domain) whose `accept` waits on the loop.
#[derive(Debug, Clone)]
pub struct Listener {
    fd: Fd,
    path: Option<PathBuf>,
}

impl Listener {
    /// Binds and listens on a TCP address (use port 0 for any free port). The error's message
    /// names the address; its kind is the operating system's (`AddrInUse` when the port is
    /// taken), and the operating system's own error, with its number, is inside it as a
    /// [`NamedError`] (not its [`source`](std::error::Error::source): the message already
    /// holds its text). The errors of
    /// [`bind_unix`](Listener::bind_unix), [`connect_tcp`], [`connect_unix`] and [`open_file`]
    /// are built the same way.
    ///
    /// ```
    /// use lwt_core::unix::{Listener, NamedError};
    /// let taken = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    /// let addr = taken.local_addr().unwrap();
    /// let e = Listener::bind_tcp(addr).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    /// assert!(e.to_string().starts_with(&format!("{addr}: ")));
    /// let os = NamedError::of(&e).unwrap().error();
    /// assert_eq!(os.raw_os_error(), Some(98)); // EADDRINUSE
    /// ```
    pub fn bind_tcp(addr: SocketAddr) -> io::Result<Listener> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| naming(addr, e))?;
        Ok(Listener {
            fd: Fd::tcp_listener(listener)?,
            path: None,
        })
    }

    /// Binds and listens on a Unix-domain socket path (the file must not exist). The error's
    /// message names the path. A path that starts with a NUL byte (`"\0name"`) is a name in
    /// Linux's abstract namespace, as with Lwt's `ADDR_UNIX`: no file is made, and none is
    /// removed when a server on it shuts down.
    ///
    /// ```
    /// use lwt_core::{main, unix};
    /// let dir = std::env::temp_dir().join(format!("lwt-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("sock");
    /// let _ = std::fs::remove_file(&path);
    /// let listener = unix::Listener::bind_unix(&path).unwrap();
    /// let accepted = listener.accept();
    /// let client = main::run(unix::connect_unix(&path)).unwrap();
    /// let (server_side, _) = main::run(accepted).unwrap();
    /// main::run(client.write_all(b"x".to_vec())).unwrap();
    /// assert_eq!(main::run(server_side.read(1)).unwrap(), b"x");
    /// std::fs::remove_file(&path).unwrap();
    /// std::fs::remove_dir(&dir).unwrap();
    /// ```
    pub fn bind_unix(path: impl AsRef<Path>) -> io::Result<Listener> {
        let path = path.as_ref();
        let listener = unix_address(path)
            .and_then(|addr| UnixListener::bind_addr(&addr))
            .map_err(|e| naming(socket_name(path), e))?;
        Ok(Listener {
            fd: Fd::unix_listener(listener)?,
            path: Some(path.to_path_buf()),
        })
    }

    /// Lwt_unix's `listen` on a listening socket: sets how many connections the system keeps
    /// waiting for an `accept` (`bind_tcp` and `bind_unix` listen with Rust's default of 128).
    /// A connection that comes when the queue is full is not answered, and its client retries
    /// about a second later, so a server that takes bursts of clients wants a longer queue
    /// (`io::establish_server` uses [`SOMAXCONN`]). The system caps the length (on Linux, at
    /// `/proc/sys/net/core/somaxconn`); a length above `i32::MAX` is taken as `i32::MAX`.
    ///
    /// ```
    /// use lwt_core::unix::Listener;
    /// let listener = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    /// listener.set_backlog(1024).unwrap();
    /// let closed = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    /// closed.close().unwrap();
    /// assert!(closed.set_backlog(16).is_err());
    /// ```
    pub fn set_backlog(&self, backlog: u32) -> io::Result<()> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self.fd
            .with_kind(|k| rustix::net::listen(k.as_fd(), backlog).map_err(io::Error::from))
    }

    /// The bound TCP address (an error for a Unix-domain listener).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with_kind(|k| match k {
            Kind::TcpListener(l) => l.local_addr(),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a TCP listener",
            )),
        })
    }

    /// The bound path of a Unix-domain listener.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Lwt_unix's `accept`: the next connection and the peer's address (`None` for Unix-domain
    /// peers). Cancelable.
    pub fn accept(&self) -> Promise<(Fd, Option<SocketAddr>)> {
        self.fd
            .retry(false, |io| match io.kind() {
                Kind::TcpListener(l) => l.accept().map(|(s, a)| (Conn::Tcp(s), Some(a))),
                Kind::UnixListener(l) => l.accept().map(|(s, _)| (Conn::Unix(s), None)),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a listener",
                )),
            })
            .bind(|(conn, addr)| {
                Promise::of_result(match conn {
                    Conn::Tcp(s) => Fd::tcp(s),
                    Conn::Unix(s) => Fd::unix(s),
                })
                .map(move |fd| (fd, addr))
            })
    }

    /// Stops listening (closes the socket).
    pub fn close(&self) -> io::Result<()> {
        self.fd.close()
    }
}

enum Conn {
    Tcp(std::net::TcpStream),
    Unix(UnixStream),
}

/// Waits for a non-blocking connect to finish, then reports its error, naming `address`, if it
/// failed.
fn finish_connect(fd: Fd, address: String) -> Promise<Fd> {
    let checked = fd.clone();
    fd.wait_write().bind(move |()| {
        let error = checked.with_kind(|k| match k {
            Kind::Tcp(s) => s.take_error(),
            Kind::Unix(s) => s.take_error(),
            _ => Ok(None),
        });
        let result = match error {
            Ok(None) => checked
                .with_kind(|k| match k {
                    Kind::Tcp(s) => s.peer_addr().map(drop),
                    _ => Ok(()),
                })
                .map(|()| checked),
            Ok(Some(e)) | Err(e) => Err(e),
        };
        let result = result.map_err(|e| naming(address, e));
        Promise::of_result(result)
    })
}

/// Lwt_unix's `connect` for TCP: a connected socket, or a rejection with the `io::Error`
/// (`ConnectionRefused` when nothing listens), whose message names the address.
///
/// ```
/// use lwt_core::{main, unix};
/// let unused = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
/// let addr = unused.local_addr().unwrap();
/// unused.close().unwrap();
/// let e = main::run(unix::connect_tcp(addr)).unwrap_err();
/// assert_eq!(e.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::ConnectionRefused);
/// assert!(e.to_string().starts_with(&format!("{addr}: ")));
/// ```
pub fn connect_tcp(addr: SocketAddr) -> Promise<Fd> {
    let started = mio::net::TcpStream::connect(addr)
        .map(std::net::TcpStream::from)
        .and_then(Fd::tcp);
    match started {
        Ok(fd) => finish_connect(fd, addr.to_string()),
        Err(e) => Promise::fail(naming(addr, e)),
    }
}

/// Connects to a Unix-domain socket. If the server's queue of connections waiting to be
/// accepted is full, waits until it has room, as Lwt_unix's `connect` does (it retries on
/// `EAGAIN`), rather than failing with `WouldBlock`. An error's message names the path. A path
/// that starts with a NUL byte names a socket in Linux's abstract namespace (see
/// [`Listener::bind_unix`]).
///
/// ```
/// use lwt_core::{main, unix};
/// let name = format!("\0lwt-doc-abstract-{}", std::process::id());
/// let listener = unix::Listener::bind_unix(&name).unwrap();
/// let accepted = listener.accept();
/// let client = main::run(unix::connect_unix(&name)).unwrap();
/// let (server_side, _) = main::run(accepted).unwrap();
/// main::run(client.write_all(b"x".to_vec())).unwrap();
/// assert_eq!(main::run(server_side.read(1)).unwrap(), b"x");
/// ```
pub fn connect_unix(path: impl AsRef<Path>) -> Promise<Fd> {
    connect_unix_after(path.as_ref().to_path_buf(), 0)
}

/// [`connect_unix`]'s attempt number `tries`.
fn connect_unix_after(path: PathBuf, tries: u32) -> Promise<Fd> {
    match unix_address(&path).and_then(|addr| mio::net::UnixStream::connect_addr(&addr)) {
        Ok(stream) => match Fd::unix(UnixStream::from(stream)) {
            Ok(fd) => finish_connect(fd, socket_name(&path)),
            Err(e) => Promise::fail(naming(socket_name(&path), e)),
        },
        // A Unix-domain connect never goes on in the background: `EAGAIN` says the server's
        // accept queue is full, and no event tells when it has room (the unconnected socket
        // is always writable: Lwt's retry on it spins). So try again a little later each time,
        // from 0.1 ms up to about 50 ms; canceling the connect cancels the wait.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let delay = std::time::Duration::from_micros(100 << tries.min(9));
            super::sleep(delay).bind(move |()| connect_unix_after(path, tries + 1))
        }
        Err(e) => Promise::fail(naming(socket_name(&path), e)),
    }
}

/// Lwt_unix's `getaddrinfo`, on the thread pool: the addresses of `host` at `port`. Differs
/// from Lwt, whose answer for an unresolvable (or empty) host is an empty list: that is a
/// rejection here, a [`Failure`](crate::Failure) naming the host and giving the resolver's
/// message, so that a connection to it fails saying why. As any [`detach`](crate::preemptive::detach)ed
/// job, the lookup can be canceled while it waits for a thread of the pool, not once it runs.
///
/// ```
/// use lwt_core::{main, unix};
/// let addrs = main::run(unix::getaddrinfo("localhost", 80)).unwrap();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback()));
/// assert!(main::run(unix::getaddrinfo("no-such-host.invalid", 80)).is_err());
/// ```
pub fn getaddrinfo(host: &str, port: u16) -> Promise<Vec<SocketAddr>> {
    let host = host.to_owned();
    preemptive::detach(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| format!("cannot resolve {host:?}: {e}"))
    })
    .bind(|r| Promise::of_result(r.map_err(Exn::failure)))
}

/// Opens a file on the thread pool (opening can block, a FIFO's until the other end is opened).
/// A regular file's descriptor is "always ready" (regular files cannot be polled; see [`Fd`]);
/// anything else (a FIFO, a terminal, a device) is non-blocking and waits on the reactor, so a
/// read with nothing to read leaves the loop running.
///
/// The errors of the descriptor's operations name the path, as the open's own does (Lwt's
/// `Unix_error` names only the system call): a read of a directory is rejected with
/// `"/tmp: Is a directory (os error 21)"`, of kind `IsADirectory`.
///
/// ```
/// use lwt_core::{main, unix};
/// let path = std::env::temp_dir().join(format!("lwt-open-{}", std::process::id()));
/// let mut options = std::fs::OpenOptions::new();
/// options.write(true).create(true).truncate(true);
/// let f = main::run(unix::open_file(&path, options)).unwrap();
/// main::run(f.write_all(b"data".to_vec())).unwrap();
/// f.close().unwrap();
/// let f = main::run(unix::open_file(&path, std::fs::OpenOptions::new().read(true).clone())).unwrap();
/// assert_eq!(main::run(f.read(16)).unwrap(), b"data");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn open_file(path: impl AsRef<Path>, options: OpenOptions) -> Promise<Fd> {
    let path = path.as_ref().to_path_buf();
    // The descriptor's errors name the path, as the open's does.
    let name = path.display().to_string();
    preemptive::detach(move || {
        let file = options.open(&path).map_err(|e| naming(path.display(), e))?;
        // Only a regular file is always ready; a FIFO, a terminal or a device can make a read
        // wait, so it must wait on the reactor, not block the loop's thread.
        let regular = file.metadata().is_ok_and(|m| m.file_type().is_file());
        Ok((file, regular))
    })
    .bind(move |r: io::Result<(File, bool)>| match r {
        Ok((file, true)) => Promise::ret(Fd::regular_file(file).named(&name)),
        Ok((file, false)) => Promise::of_result(
            Fd::from_owned(file.into())
                .map(|fd| fd.named(&name))
                .map_err(|e| naming(&name, e)),
        ),
        Err(e) => Promise::fail(e),
    })
}
