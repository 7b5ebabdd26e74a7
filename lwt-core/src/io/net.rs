//! Network channels: [`open_connection`], [`with_connection`], [`establish_server`] (Lwt_io's).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use super::owner::Owner;
use super::{InputChannel, OutputChannel, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_LINE_LENGTH};
use crate::bind::catch;
use crate::exn::Exn;
use crate::hook;
use crate::main::pause;
use crate::promise::Promise;
use crate::resolver::{task, wait, Resolver};
use crate::schedule;
use crate::unix::{self, Fd, Listener};

/// Where to connect or listen (Lwt's `Unix.sockaddr`, plus host names).
///
/// The functions that take one take `impl Into<Address>`: a `SocketAddr`, a `(host, port)`
/// pair (`("127.0.0.1", 0)`, the short form of OCaml's `ADDR_INET (inet_addr_of_string ..)`),
/// or a path through [`Address::unix`]. A bare `"127.0.0.1:0".parse()` cannot infer its type
/// there: write `.parse::<std::net::SocketAddr>()`. A `"host:port"` string is not an `Address`
/// (tokio's `connect("127.0.0.1:80")` takes one, and rustc says ``the trait `From<&str>` is not
/// implemented for `Address` ``): write the pair, `("127.0.0.1", 80)`, or parse the string into
/// a `SocketAddr` as above.
///
/// ```
/// use lwt_core::io::Address;
/// let a: Address = "127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap().into();
/// assert_eq!(a, Address::Inet("127.0.0.1:80".parse().unwrap()));
/// assert_eq!(Address::from(("localhost", 80)), Address::Host("localhost".into(), 80));
/// assert_eq!(Address::unix("/tmp/s"), Address::Unix("/tmp/s".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IP address and port (`ADDR_INET`).
    Inet(SocketAddr),
    /// A host name and port, resolved with [`getaddrinfo`](crate::unix::getaddrinfo); the
    /// addresses are tried in order. A name that is an IP address in Rust's notation
    /// ([`IpAddr`](std::net::IpAddr)'s: `"127.0.0.1"`, `"::1"`) is that address, as an `Inet`:
    /// no resolution, and errors name it once. Other forms `getaddrinfo` reads (`"127.1"`, a
    /// scope `"fe80::1%lo"`) are resolved, and errors name them as written, then as resolved. If none works, the rejection is an `io::Error` of the last
    /// attempt's kind whose message names the host, then each address's error in the order
    /// tried: `localhost:1: [::1]:1: Connection refused (os error 111); 127.0.0.1:1: ...`.
    Host(String, u16),
    /// A Unix-domain socket path (`ADDR_UNIX`).
    Unix(PathBuf),
}

impl Address {
    /// A Unix-domain socket address.
    ///
    /// ```
    /// let a = lwt_core::io::Address::unix("/run/app.sock");
    /// assert!(matches!(a, lwt_core::io::Address::Unix(_)));
    /// ```
    pub fn unix(path: impl Into<PathBuf>) -> Address {
        Address::Unix(path.into())
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Inet(addr)
    }
}

impl From<(&str, u16)> for Address {
    fn from((host, port): (&str, u16)) -> Address {
        Address::Host(host.to_owned(), port)
    }
}

impl From<(String, u16)> for Address {
    fn from((host, port): (String, u16)) -> Address {
        Address::Host(host, port)
    }
}

/// Tries `addrs[i..]` in order with `f`, `failed` holding the errors of those before `i`; if
/// none works, an error naming `host` and every address's error (see [`EveryAddressFailed`]).
fn first_that_works<T: 'static>(
    host: Rc<str>,
    port: u16,
    addrs: Vec<SocketAddr>,
    i: usize,
    mut failed: Vec<Exn>,
    f: Rc<dyn Fn(SocketAddr) -> Promise<T>>,
) -> Promise<T> {
    let Some(&addr) = addrs.get(i) else {
        return Promise::fail(every_address_failed(&host, port, failed));
    };
    let again = f.clone();
    f(addr).catch(move |e| {
        if e.is_canceled() {
            Promise::fail(e)
        } else {
            failed.push(e);
            first_that_works(host, port, addrs, i + 1, failed, again)
        }
    })
}

/// The rejection of a connection (or listener) by host name none of whose addresses worked.
///
/// The addresses' own errors name only the IP (`127.0.0.1:1: Connection refused`), so the
/// name the program asked for is put in front; and when the name has several addresses
/// (`localhost` is often `::1` and `127.0.0.1`), each one's error is kept, in the order tried,
/// since the first may say more than the last (a refused IPv4 port after an unreachable IPv6
/// network). It is an `io::Error` of the last attempt's kind, so callers that match on
/// `ConnectionRefused` or `AddrInUse` still can, holding a [`NamedError`](unix::NamedError)
/// whose error is the last attempt's, OS error number included (not as a `source`, whose text
/// chain printers would show twice: rev86). An attempt that failed with something other than
/// an `io::Error` (which none of this module's uses do) is passed on as it is.
fn every_address_failed(host: &str, port: u16, mut failed: Vec<Exn>) -> Exn {
    let name = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let Some(last) = failed.pop() else {
        return io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name}: the host has no address"),
        )
        .into();
    };
    let Some(last_io) = last.downcast_ref::<io::Error>() else {
        return last;
    };
    // An `io::Error` is not `Clone`: the last attempt's is rebuilt, as the address it named
    // and its OS error (the message stays the same).
    let rebuilt = match (
        unix::NamedError::of(last_io),
        unix::os_error_number(last_io),
    ) {
        (Some(named), Some(number)) => {
            unix::naming(named.name(), io::Error::from_raw_os_error(number))
        }
        _ => io::Error::new(last_io.kind(), last.to_string()),
    };
    let earlier = failed.iter().map(Exn::to_string).collect();
    unix::naming_attempts(last_io.kind(), name, earlier, rebuilt).into()
}

fn resolve_then<T: 'static>(
    host: &str,
    port: u16,
    f: impl Fn(SocketAddr) -> Promise<T> + 'static,
) -> Promise<T> {
    let f: Rc<dyn Fn(SocketAddr) -> Promise<T>> = Rc::new(f);
    let name: Rc<str> = host.into();
    // The lookup runs on the thread pool, where nothing can stop it once it runs, and its
    // promise then ignores `cancel`: waited on directly, a canceled (or timed out) connection
    // by name went on to connect when the answer came, for nobody, and a body waiting on the
    // peer kept the socket open. The connection waits on a task of its own instead, which a
    // cancel rejects at once; a late answer then finds it resolved and is dropped. The cancel
    // is passed on to the lookup, which it withdraws if the lookup still waits for a thread.
    let (resolved, r) = task::<Vec<SocketAddr>>();
    let answered = unix::getaddrinfo(host, port).then(move |outcome| {
        if r.is_pending() {
            r.wakeup_result(outcome);
        }
        Promise::ret(())
    });
    resolved.on_cancel(move || answered.cancel());
    resolved.bind(move |addrs| first_that_works(name, port, addrs, 0, Vec::new(), f))
}

/// A `Host` whose name is an IP address (`("127.0.0.1", 80)`, `("::1", 80)`) is that address:
/// no resolution, and its errors name it once (through `getaddrinfo` they named it as the host,
/// then again as the address tried: `127.0.0.1:1: 127.0.0.1:1: Connection refused`, rev89).
fn literal(addr: Address) -> Address {
    match addr {
        Address::Host(host, port) => match host.parse::<std::net::IpAddr>() {
            Ok(ip) => Address::Inet(SocketAddr::new(ip, port)),
            Err(_) => Address::Host(host, port),
        },
        other => other,
    }
}

fn connect(addr: Address) -> Promise<Fd> {
    match literal(addr) {
        Address::Inet(addr) => unix::connect_tcp(addr),
        Address::Unix(path) => unix::connect_unix(path),
        Address::Host(host, port) => resolve_then(&host, port, unix::connect_tcp),
    }
}

fn listen(addr: Address) -> Promise<Listener> {
    match literal(addr) {
        Address::Inet(addr) => Promise::of_result(Listener::bind_tcp(addr)),
        Address::Unix(path) => Promise::of_result(Listener::bind_unix(path)),
        Address::Host(host, port) => resolve_then(&host, port, |addr| {
            Promise::of_result(Listener::bind_tcp(addr))
        }),
    }
}

/// The two channels of a connected socket, sharing it (Lwt_io's `of_fd` pair, as
/// `open_connection` makes it), with buffers of [`DEFAULT_BUFFER_SIZE`] bytes
/// ([`socket_channels_with`] chooses):
///
/// * closing the **output** channel writes out its buffer and shuts the sending side down: the
///   peer sees the end of input, and the input channel still reads its reply;
/// * closing the **input** channel closes the connection, as Lwt's close does: the output
///   channel is closed first (so what it holds is written out, not dropped), then the socket is
///   shut down both ways and closed. The peer's reader sees the end of input, and its writers
///   fail (`BrokenPipe`, `ConnectionReset`) rather than wait for room
///   ([`InputChannel::close`] says more).
///
/// So closing both, output first as [`with_connection`] and [`establish_server`] do, is a
/// graceful close; closing the input alone is too.
///
/// Why not exactly Lwt: Lwt's channels of a connection share one close, `shutdown` both ways
/// then `close`, which either channel runs. Closing the output that way loses the peer's reply
/// (the input then fails with `EBADF`), and closing the input drops the output's buffered bytes
/// silently; Lwt's own documentation says the connection is closed when both channels are.
/// (`lwt-core/tests/ocaml/socket_close.ml` shows what Lwt 5.6.1 does.)
///
/// ```
/// use lwt_core::{io, main, unix};
/// let (a, b) = unix::socketpair().unwrap();
/// let (a_in, a_out) = io::socket_channels(a);
/// let (b_in, b_out) = io::socket_channels(b);
/// main::run(a_out.write_line("ping").bind(move |()| a_out.close())).unwrap();
/// assert_eq!(main::run(b_in.read_line()).unwrap(), "ping");
/// assert!(main::run(b_in.read_line()).unwrap_err().is::<io::EndOfFile>());
/// main::run(b_out.write_line("pong").bind(move |()| b_out.flush())).unwrap();
/// assert_eq!(main::run(a_in.read_line()).unwrap(), "pong");
/// ```
pub fn socket_channels(fd: Fd) -> (InputChannel, OutputChannel) {
    channels(fd, ChannelConfig::default())
}

/// [`socket_channels`] with options: the buffer size and the input's line-length limit (Lwt's
/// `of_fd ?buffer`). Rejected with [`InvalidArgument`](crate::InvalidArgument) if the buffer
/// size is not valid (see [`ChannelConfig::buffer_size`]); `fd` is then dropped, which closes
/// the socket unless another handle holds it.
///
/// ```
/// use lwt_core::{io, main, unix};
/// let (a, b) = unix::socketpair().unwrap();
/// let small = io::ChannelConfig::new().buffer_size(4);
/// let (_a_in, a_out) = io::socket_channels_with(a, small).unwrap();
/// let (b_in, _b_out) = io::socket_channels_with(b, small).unwrap();
/// main::run(a_out.write("abc")).unwrap();
/// assert_eq!(a_out.buffered(), 3); // fits in the buffer
/// main::run(a_out.write("defgh")).unwrap();
/// assert_eq!(a_out.buffered(), 0); // did not fit: written out with the buffer
/// assert_eq!(main::run(b_in.read(100)).unwrap(), b"abcd"); // 4 bytes per read
///
/// let (c, _d) = unix::socketpair().unwrap();
/// let e = io::socket_channels_with(c, io::ChannelConfig::new().buffer_size(0)).unwrap_err();
/// assert!(e.is::<lwt_core::InvalidArgument>());
/// ```
pub fn socket_channels_with(
    fd: Fd,
    config: ChannelConfig,
) -> Result<(InputChannel, OutputChannel), Exn> {
    config.check("io::socket_channels_with")?;
    Ok(channels(fd, config))
}

fn channels(fd: Fd, config: ChannelConfig) -> (InputChannel, OutputChannel) {
    let (input, output) = Owner::socket(fd);
    let oc = OutputChannel::new(output, config.out_buffer_size);
    let ic = InputChannel::new(input, config.in_buffer_size);
    ic.owner().pair_with(&ic, &oc);
    ic.set_max_line_length(config.max_line_length);
    (ic, oc)
}

/// The largest buffer size [`ChannelConfig`] and [`ServerConfig`] accept: the most bytes a Rust
/// buffer can hold (Lwt's limit is `Sys.max_string_length`, the most an OCaml string can).
/// [`InputChannel::with_buffer_size`] and [`OutputChannel::with_buffer_size`], which cannot
/// fail, take any size and use at least 1 byte.
///
/// ```
/// assert_eq!(lwt_core::io::MAX_BUFFER_SIZE, isize::MAX as usize);
/// ```
pub const MAX_BUFFER_SIZE: usize = isize::MAX as usize;

/// Rejects a buffer size outside `1..=MAX_BUFFER_SIZE` (Lwt's `check_buffer_size`, whose
/// `Invalid_argument` this is).
/// `which` names the channel: "input" or "output".
fn check_buffer_size(what: &str, which: &str, size: usize) -> Result<(), Exn> {
    if size == 0 || size > MAX_BUFFER_SIZE {
        return Err(Exn::invalid_argument(format!(
            "{what}: {which} buffer size {size} is not within 1..={MAX_BUFFER_SIZE}"
        )));
    }
    Ok(())
}

/// Options of a connection's channels, for [`socket_channels_with`], [`open_connection_with`]
/// and [`with_connection_with`] (Lwt's `?in_buffer` and `?out_buffer`): the buffer size of each
/// channel and the input's line-length limit. [`ServerConfig`] has the same for a server's.
///
/// ```
/// use lwt_core::{io::{self, ChannelConfig}, unix};
/// let config = ChannelConfig::new().buffer_size(65536).max_line_length(1024);
/// let (a, _b) = unix::socketpair().unwrap();
/// let (ic, _oc) = io::socket_channels_with(a, config).unwrap();
/// assert_eq!(ic.max_line_length(), 1024);
/// assert_eq!(
///     ChannelConfig::new(),
///     ChannelConfig::new().buffer_size(io::DEFAULT_BUFFER_SIZE).max_line_length(io::DEFAULT_MAX_LINE_LENGTH)
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    in_buffer_size: usize,
    out_buffer_size: usize,
    max_line_length: usize,
}

impl Default for ChannelConfig {
    fn default() -> ChannelConfig {
        ChannelConfig {
            in_buffer_size: DEFAULT_BUFFER_SIZE,
            out_buffer_size: DEFAULT_BUFFER_SIZE,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
        }
    }
}

impl ChannelConfig {
    /// The defaults: [`DEFAULT_BUFFER_SIZE`] and [`DEFAULT_MAX_LINE_LENGTH`].
    ///
    /// ```
    /// assert_eq!(lwt_core::io::ChannelConfig::new(), lwt_core::io::ChannelConfig::default());
    /// ```
    pub fn new() -> ChannelConfig {
        ChannelConfig::default()
    }

    /// The buffer size of both channels, in bytes: the output channel writes out its buffer
    /// when a write does not fit, and the input channel asks the descriptor for this much at a
    /// time, or for what an operation needs if that is more (`read_exactly(n)` asks for `n`,
    /// `read_to_end` for 1 MiB), at most 1 MiB. Neither allocates it up front: buffers grow
    /// as they are used.
    ///
    /// A size of 0, or above [`MAX_BUFFER_SIZE`], makes the function given this configuration
    /// fail with [`InvalidArgument`](crate::InvalidArgument), as Lwt's `Invalid_argument`. Lwt
    /// also refuses sizes below 16, which its `block` primitive (for binary numbers) needs;
    /// these channels work with any size from 1 byte (slowly), which tests use.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let config = io::ChannelConfig::new().buffer_size(0);
    /// let e = main::run(io::open_connection_with("127.0.0.1:9".parse::<std::net::SocketAddr>().unwrap(), config))
    ///     .unwrap_err();
    /// assert!(e.is::<lwt_core::InvalidArgument>()); // rejected before connecting
    /// ```
    #[must_use]
    pub fn buffer_size(self, size: usize) -> ChannelConfig {
        self.in_buffer_size(size).out_buffer_size(size)
    }

    /// The input channel's buffer size alone (Lwt's `?in_buffer`): how much it asks the
    /// descriptor for at a time, unless an operation needs more (see
    /// [`buffer_size`](ChannelConfig::buffer_size)), whose valid sizes are the same.
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (a, b) = unix::socketpair().unwrap();
    /// let (ic, _oc) = io::socket_channels_with(a, io::ChannelConfig::new().in_buffer_size(3)).unwrap();
    /// let (_b_in, b_out) = io::socket_channels(b);
    /// main::run(b_out.write("hello").bind(move |()| b_out.flush())).unwrap();
    /// assert_eq!(main::run(ic.read(100)).unwrap(), b"hel"); // one 3-byte read
    /// ```
    #[must_use]
    pub fn in_buffer_size(mut self, size: usize) -> ChannelConfig {
        self.in_buffer_size = size;
        self
    }

    /// The output channel's buffer size alone (Lwt's `?out_buffer`): it writes out its buffer
    /// when a write does not fit. The same sizes are valid as for
    /// [`buffer_size`](ChannelConfig::buffer_size).
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (a, _b) = unix::socketpair().unwrap();
    /// let config = io::ChannelConfig::new().out_buffer_size(1 << 16);
    /// let (_ic, oc) = io::socket_channels_with(a, config).unwrap();
    /// main::run(oc.write(vec![b'x'; 5000])).unwrap();
    /// assert_eq!(oc.buffered(), 5000); // kept: it fits
    /// ```
    #[must_use]
    pub fn out_buffer_size(mut self, size: usize) -> ChannelConfig {
        self.out_buffer_size = size;
        self
    }

    /// The input channel's line-length limit (see [`InputChannel::set_max_line_length`]).
    ///
    /// ```
    /// use lwt_core::{io, main, unix};
    /// let (a, _b) = unix::socketpair().unwrap();
    /// let (ic, _oc) = io::socket_channels_with(a, io::ChannelConfig::new().max_line_length(80)).unwrap();
    /// assert_eq!(ic.max_line_length(), 80);
    /// ```
    #[must_use]
    pub fn max_line_length(mut self, limit: usize) -> ChannelConfig {
        self.max_line_length = limit;
        self
    }

    fn check(&self, what: &str) -> Result<(), Exn> {
        check_buffer_size(what, "input", self.in_buffer_size)?;
        check_buffer_size(what, "output", self.out_buffer_size)
    }
}

/// Lwt_io's `open_connection`: connects to `addr` and gives the connection's channels (see
/// [`socket_channels`]). Rejected with the `io::Error` (`ConnectionRefused` when nothing
/// listens), or with the resolver's error for a host name that does not resolve.
///
/// ```
/// use lwt_core::{io, main, unix};
/// let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (ic, oc) = main::run(io::open_connection(addr)).unwrap();
/// let (server_side, _peer) = main::run(listener.accept()).unwrap();
/// main::run(oc.write_line("hello").bind(move |()| oc.flush())).unwrap();
/// assert_eq!(main::run(server_side.read(100)).unwrap(), b"hello\n");
/// # drop(ic);
/// ```
pub fn open_connection(addr: impl Into<Address>) -> Promise<(InputChannel, OutputChannel)> {
    open_connection_with(addr, ChannelConfig::default())
}

/// [`open_connection`] with options (Lwt's `open_connection ?in_buffer ?out_buffer`): the
/// channels' buffer size and line-length limit. Rejected with
/// [`InvalidArgument`](crate::InvalidArgument), before connecting, if the buffer size is not
/// valid (see [`ChannelConfig::buffer_size`]).
///
/// ```
/// use lwt_core::{io, main, unix};
/// let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
/// let config = io::ChannelConfig::new().buffer_size(1 << 16);
/// let (_ic, oc) = main::run(io::open_connection_with(listener.local_addr().unwrap(), config)).unwrap();
/// main::run(oc.write(vec![b'x'; 5000])).unwrap();
/// assert_eq!(oc.buffered(), 5000); // fits in the 64 KiB buffer (not in the default 4 KiB)
/// ```
pub fn open_connection_with(
    addr: impl Into<Address>,
    config: ChannelConfig,
) -> Promise<(InputChannel, OutputChannel)> {
    if let Err(e) = config.check("io::open_connection_with") {
        return Promise::fail(e);
    }
    connect(addr.into()).map(move |fd| channels(fd, config))
}

/// Lwt_io's `with_connection`: connects, runs `f` on the channels, and closes them when `f`'s
/// promise resolves, either way. The result is `f`'s, unless closing after a success fails;
/// after a failure, the body's rejection. The close writes out what the output channel holds
/// first, for as long as the peer takes some of it at least once a second; a peer that takes
/// nothing for a second (the body may have given up on a peer that does not read) gets the
/// connection aborted, and the bytes left are dropped. Lwt closes the socket at once here,
/// which drops them even for a peer that reads. What counts is what the system accepts, which
/// it takes in steps: a socket wakes its writer once its reader has drained a good part of its
/// buffer (a quarter to a third on Linux), so a reader that drains less than that in a second
/// counts as stalled. For another rule, close the channels in `f` before it returns.
///
/// ```
/// use lwt_core::{io, main};
/// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
///     |_peer, ic, oc| ic.read_line().bind(move |line| oc.write_line(line.to_uppercase())))).unwrap();
/// let reply = io::with_connection(server.local_addr().unwrap(), |ic, oc| {
///     oc.write_line("shout").bind(move |()| oc.flush()).bind(move |()| ic.read_line())
/// });
/// assert_eq!(main::run(reply).unwrap(), "SHOUT");
/// main::run(server.shutdown()).unwrap();
/// ```
pub fn with_connection<T: 'static>(
    addr: impl Into<Address>,
    f: impl FnOnce(InputChannel, OutputChannel) -> Promise<T> + 'static,
) -> Promise<T> {
    with_connection_with(addr, ChannelConfig::default(), f)
}

/// [`with_connection`] with options (Lwt's `with_connection ?in_buffer ?out_buffer`), as
/// [`open_connection_with`] takes them.
///
/// ```
/// use lwt_core::{io, main};
/// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
///     |_peer, _ic, oc| oc.write_line("a long greeting"))).unwrap();
/// let config = io::ChannelConfig::new().max_line_length(5);
/// let e = main::run(io::with_connection_with(server.local_addr().unwrap(), config, |ic, _oc| ic.read_line()))
///     .unwrap_err();
/// assert!(e.is::<io::LineTooLong>());
/// main::run(server.shutdown()).unwrap();
/// ```
pub fn with_connection_with<T: 'static>(
    addr: impl Into<Address>,
    config: ChannelConfig,
    f: impl FnOnce(InputChannel, OutputChannel) -> Promise<T> + 'static,
) -> Promise<T> {
    open_connection_with(addr, config).bind(move |(ic, oc)| {
        let (ic2, oc2, ic3, oc3) = (ic.clone(), oc.clone(), ic.clone(), oc.clone());
        catch(move || f(ic, oc), Promise::fail).try_bind(
            move |v| close_connection(ic2, oc2, true).map(move |()| v),
            move |e| close_connection(ic3, oc3, false).then(move |_| Promise::fail(e)),
        )
    })
}

/// Closes a connection whose body or handler is done (`succeeded`: the output first, which
/// shuts its sending side down, then the input; after a failure, the input, which writes the
/// output out before it closes the socket), and watches the close, which writes out what the
/// output holds first: it goes on for as long as the peer takes some of it at least
/// once per [`CLOSE_GRACE`](super::CLOSE_GRACE); a peer that takes nothing for that long gets
/// the connection aborted, and the bytes left stay counted in `buffered()`. A close that waited
/// without bound would let a peer that never reads (a body that gave up on it, a write canceled
/// by a timeout, puts its bytes back in the buffer) keep `with_connection` pending, or a
/// server's connection (a close nobody can cancel) open, for as long as the peer lives. Lwt
/// closes the socket at once here (its input's close does), which drops the buffered bytes even
/// for a peer that reads. Rejected if the close fails; giving up on the peer is not a failure.
fn close_connection(ic: InputChannel, oc: OutputChannel, succeeded: bool) -> Promise<()> {
    let closing = if succeeded {
        let input = ic.clone();
        oc.close().finalize(move || input.close())
    } else {
        ic.close()
    };
    let taken = oc.written_out();
    let aborting = ic.clone();
    let watched = close_unless_stalled(closing, ic, oc, taken);
    // Canceled (a `with_timeout` around `with_connection`): the close, which the watch protects,
    // would go on unwatched against a peer that may never read. The caller gave up: abort.
    watched.on_cancel(move || drop(aborting.abort()));
    watched
}

fn close_unless_stalled(
    closing: Promise<()>,
    ic: InputChannel,
    oc: OutputChannel,
    taken: u64,
) -> Promise<()> {
    if !closing.is_pending() {
        return closing;
    }
    // `protected`: the race's end cancels only the timer; the close goes on.
    let closed = closing.clone().protected().map(|()| true);
    let waited = unix::sleep(super::CLOSE_GRACE).map(|()| false);
    crate::combinators::pick(vec![closed, waited]).bind(move |closed| {
        let now = oc.written_out();
        if closed {
            Promise::ret(())
        } else if now > taken {
            close_unless_stalled(closing, ic, oc, now)
        } else {
            ic.abort()
        }
    })
}

/// The error reporter of a server.
type OnError = Rc<dyn Fn(&Exn)>;

/// Options of [`establish_server_with`].
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::io::ServerConfig;
/// let errors = Rc::new(RefCell::new(Vec::new()));
/// let e = errors.clone();
/// let config = ServerConfig::new()
///     .buffer_size(8192)
///     .max_line_length(1024)
///     .on_error(move |exn| e.borrow_mut().push(exn.to_string()));
/// # drop(config);
/// ```
#[derive(Clone, Default)]
pub struct ServerConfig {
    channels: ChannelConfig,
    on_error: Option<OnError>,
    no_close: bool,
    backlog: Option<u32>,
}

impl ServerConfig {
    /// The defaults: [`DEFAULT_BUFFER_SIZE`], [`DEFAULT_MAX_LINE_LENGTH`], errors to the
    /// [async exception hook](crate::hook).
    ///
    /// ```
    /// let _ = lwt_core::io::ServerConfig::new();
    /// ```
    pub fn new() -> ServerConfig {
        ServerConfig::default()
    }

    /// The buffer size of each connection's channels (as [`ChannelConfig::buffer_size`]: a
    /// size of 0 or above [`MAX_BUFFER_SIZE`] makes [`establish_server_with`] fail with
    /// [`InvalidArgument`](crate::InvalidArgument)).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let _ = io::ServerConfig::new().buffer_size(65536);
    /// let bad = io::ServerConfig::new().buffer_size(0);
    /// let e = main::run(io::establish_server_with("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), bad,
    ///     |_, _, _| lwt_core::return_unit())).unwrap_err();
    /// assert!(e.is::<lwt_core::InvalidArgument>());
    /// ```
    #[must_use]
    pub fn buffer_size(mut self, size: usize) -> ServerConfig {
        self.channels = self.channels.buffer_size(size);
        self
    }

    /// The buffer size of each connection's input channel alone (as
    /// [`ChannelConfig::in_buffer_size`]).
    ///
    /// ```
    /// let _ = lwt_core::io::ServerConfig::new().in_buffer_size(1 << 16).out_buffer_size(512);
    /// ```
    #[must_use]
    pub fn in_buffer_size(mut self, size: usize) -> ServerConfig {
        self.channels = self.channels.in_buffer_size(size);
        self
    }

    /// The buffer size of each connection's output channel alone (as
    /// [`ChannelConfig::out_buffer_size`]).
    ///
    /// ```
    /// let _ = lwt_core::io::ServerConfig::new().out_buffer_size(1 << 16);
    /// ```
    #[must_use]
    pub fn out_buffer_size(mut self, size: usize) -> ServerConfig {
        self.channels = self.channels.out_buffer_size(size);
        self
    }

    /// The line-length limit of each connection's input channel.
    ///
    /// ```
    /// let _ = lwt_core::io::ServerConfig::new().max_line_length(80);
    /// ```
    #[must_use]
    pub fn max_line_length(mut self, limit: usize) -> ServerConfig {
        self.channels = self.channels.max_line_length(limit);
        self
    }

    /// How many connections the system keeps waiting for the server's `accept` (Lwt_io's
    /// `?backlog`; [`Listener::set_backlog`]). The default is [`unix::SOMAXCONN`], as in Lwt.
    /// When the queue is full a new client is not answered and retries about a second later,
    /// so a burst of clients larger than the queue takes that second longer.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let config = io::ServerConfig::new().backlog(16);
    /// let server = main::run(io::establish_server_with("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     config, |_, _, _| lwt_core::return_unit())).unwrap();
    /// main::run(server.shutdown()).unwrap();
    /// ```
    #[must_use]
    pub fn backlog(mut self, backlog: u32) -> ServerConfig {
        self.backlog = Some(backlog);
        self
    }

    /// Where the server's errors go: a handler's rejection (or panic), a failure to close a
    /// connection, a failed `accept` (not one that fails for a client that gave up before it
    /// was accepted, `ECONNABORTED` and Linux's pending network errors: those are retried at
    /// once, silently, as Lwt's server does `ECONNABORTED`). Without it they go to the
    /// [async exception hook](crate::hook), as in Lwt, whose default prints the error and exits
    /// the process; with it, or with a hook that returns, the server keeps serving. That differs
    /// from Lwt after a failed `accept` (`EMFILE`: out of descriptors): Lwt's accept loop ends
    /// there (the clients after it wait for ever, and `shutdown_server` never resolves), where
    /// this one tries again every 100 ms, reporting each failure, until descriptors are free
    /// again or the server is shut down.
    ///
    /// ```
    /// let _ = lwt_core::io::ServerConfig::new().on_error(|e| eprintln!("server: {e}"));
    /// ```
    #[must_use]
    pub fn on_error(mut self, f: impl Fn(&Exn) + 'static) -> ServerConfig {
        self.on_error = Some(Rc::new(f));
        self
    }

    /// Lwt's `?no_close`: with `true`, the server does not close a connection's channels when
    /// its handler's promise resolves; the handler has taken them over (to serve them from
    /// another task, say) and closes them itself. They close anyway once every clone of them is
    /// dropped. The connection counts as served (see [`Server::active_connections`] and
    /// [`Server::drained`]) when the handler's promise resolves either way.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use lwt_core::{io, main};
    /// let kept = Rc::new(RefCell::new(Vec::new()));
    /// let k = kept.clone();
    /// let config = io::ServerConfig::new().no_close(true);
    /// let server = main::run(io::establish_server_with("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     config, move |_, ic, oc| { k.borrow_mut().push((ic, oc)); lwt_core::return_unit() })).unwrap();
    /// let (_ic, oc) = main::run(io::open_connection(server.local_addr().unwrap())).unwrap();
    /// main::run(oc.write_line("later").bind(move |()| oc.flush())).unwrap();
    /// while kept.borrow().is_empty() { main::run(main::pause()).unwrap(); }
    /// let (ic, _oc) = kept.borrow_mut().pop().unwrap(); // still open: the handler kept it
    /// assert_eq!(main::run(ic.read_line()).unwrap(), "later");
    /// main::run(server.shutdown()).unwrap();
    /// ```
    #[must_use]
    pub fn no_close(mut self, no_close: bool) -> ServerConfig {
        self.no_close = no_close;
        self
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("in_buffer_size", &self.channels.in_buffer_size)
            .field("out_buffer_size", &self.channels.out_buffer_size)
            .field("max_line_length", &self.channels.max_line_length)
            .field("on_error", &self.on_error.is_some())
            .field("no_close", &self.no_close)
            .field("backlog", &self.backlog)
            .finish()
    }
}

/// A running server (Lwt_io's `server`), made by [`establish_server`]. Clones share it.
///
/// Dropping every handle does not stop it: the accept loop holds one of its own, and the server
/// listens and serves until [`shutdown`](Server::shutdown), as Lwt's runs until
/// `shutdown_server`.
#[derive(Clone)]
pub struct Server(Rc<ServerState>);

struct ServerState {
    listener: Listener,
    local_addr: Option<SocketAddr>,
    config: ServerConfig,
    accepting: RefCell<Option<Promise<()>>>,
    stopping: Cell<bool>,
    active: Cell<usize>,
    accepted: Cell<u64>,
    /// The one promise every [`Server::drained`] call hands out (as Lwt's `shutdown_server`
    /// returns the same promise each time), made at the first call: not cancelable, so a
    /// `pick` that races it and loses leaves it pending, and a call costs no new resolver.
    drained: RefCell<Option<(Promise<()>, Resolver<()>)>>,
}

/// How many connections are accepted in a row, without waiting, before the accept loop lets
/// the rest of the program run.
const ACCEPT_BURST: u32 = 32;

impl Server {
    /// The address the server listens on (`None` for a Unix-domain server). With port 0 in the
    /// address given to [`establish_server`], the port the system chose.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     |_, _, _| lwt_core::return_unit())).unwrap();
    /// assert_ne!(server.local_addr().unwrap().port(), 0);
    /// main::run(server.shutdown()).unwrap();
    /// ```
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr
    }

    /// How many connections are being served (their handlers have not finished).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     |_, _, _| lwt_core::return_unit())).unwrap();
    /// assert_eq!(server.active_connections(), 0);
    /// main::run(server.shutdown()).unwrap();
    /// ```
    pub fn active_connections(&self) -> usize {
        self.0.active.get()
    }

    /// How many connections the server has accepted since it started.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     |_, _, _| lwt_core::return_unit())).unwrap();
    /// main::run(io::with_connection(server.local_addr().unwrap(), |ic, _oc| ic.read_to_end())).unwrap();
    /// assert_eq!(server.connections_accepted(), 1);
    /// main::run(server.shutdown()).unwrap();
    /// ```
    pub fn connections_accepted(&self) -> u64 {
        self.0.accepted.get()
    }

    /// Lwt_io's `shutdown_server`: stops accepting (closes the listening socket, and removes
    /// the socket file of a Unix-domain server). Fulfilled once it is done, which is at once;
    /// the connections the server has accepted go on (wait for them with
    /// [`drained`](Server::drained)). Those the system had completed but the server not yet
    /// accepted are reset by the system when the listening socket closes, as in Lwt. Calling it
    /// again does nothing more.
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     |_, _, _| lwt_core::return_unit())).unwrap();
    /// let addr = server.local_addr().unwrap();
    /// main::run(server.shutdown()).unwrap();
    /// assert!(main::run(io::open_connection(addr)).is_err()); // no longer accepting
    /// ```
    pub fn shutdown(&self) -> Promise<()> {
        let state = &self.0;
        if !state.stopping.replace(true) {
            if let Some(accepting) = state.accepting.borrow_mut().take() {
                accepting.cancel();
            }
            let _ = state.listener.close();
            // An abstract name has no file (Lwt's `shutdown_server` skips it too).
            if let Some(path) = state.listener.path().filter(|p| !unix::net::is_abstract(p)) {
                let _ = std::fs::remove_file(path);
            }
            if state.active.get() == 0 {
                self.wake_drained();
            }
        }
        Promise::ret(())
    }

    /// Fulfilled once the server is shut down ([`shutdown`](Server::shutdown)) and every
    /// connection in progress has finished: its handler done and its channels closed. For a
    /// graceful stop, `shutdown` then `drained`. Pending until `shutdown` is called. Every call
    /// hands out the same promise, which is not cancelable: racing it in a `pick` against a
    /// timeout leaves it pending, and each race's waiter leaves it when the race ends. (A
    /// `map` or `bind` of it that is given up keeps its callback on it until the shutdown, as
    /// on any promise: race `drained()` itself.) A connection whose handler has returned is
    /// finished once its output is written out, which waits on a peer that reads slowly for as
    /// long as it takes some of the output at least once a second; one that takes nothing for
    /// a second is aborted (Lwt closes the socket at once). [`unix::with_timeout`] bounds the
    /// wait only: when it gives up, the connections still open go on, handlers and sockets alike.
    /// The server cannot end them; to force them closed, keep their channels (from the handler)
    /// and [`abort`](crate::io::OutputChannel::abort) them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lwt_core::{io, main, unix};
    /// let server = main::run(io::establish_server("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ///     |_peer, _ic, oc| unix::sleep(Duration::from_millis(50)).bind(move |()| oc.write_line("late")))).unwrap();
    /// let addr = server.local_addr().unwrap();
    /// let reply = io::with_connection(addr, |ic, _oc| ic.read_line());
    /// while server.active_connections() == 0 {
    ///     main::run(unix::sleep(Duration::from_millis(1))).unwrap(); // until it is being served
    /// }
    /// main::run(server.shutdown()).unwrap();
    /// let drained = server.drained();
    /// assert!(drained.is_pending()); // the connection is still being served
    /// assert_eq!(main::run(reply).unwrap(), "late"); // it finished normally
    /// main::run(drained).unwrap();
    /// ```
    pub fn drained(&self) -> Promise<()> {
        let state = &self.0;
        if state.stopping.get() && state.active.get() == 0 {
            return Promise::ret(());
        }
        let mut drained = state.drained.borrow_mut();
        let (p, _) = drained.get_or_insert_with(wait);
        p.clone()
    }

    /// Gives `e` to `on_error`, or to the async exception hook; `what` failed (for the default
    /// hook's message).
    ///
    /// Called from the server's callbacks, which have bookkeeping left to do (close the
    /// connection, count it served, accept again): a panic of the hook (or of `on_error`, then
    /// given to the hook, if the hook panics too) does not unwind out of them, where it became
    /// their promise's rejection, which nobody sees (rev128: the connection stayed counted, so
    /// `drained` never resolved, or the server stopped accepting, silently). It goes on to the
    /// caller of the loop once the loop has run its other jobs, through a job
    /// ([`schedule::resume_later`]), as a hook's panic in any callback does.
    fn report(&self, e: &Exn, what: &'static str) {
        let reported = catch_unwind(AssertUnwindSafe(|| match &self.0.config.on_error {
            Some(f) => {
                let f = f.clone();
                hook::guard(|| f(e));
            }
            None => hook::report_from(e, hook::Source::Server(what)),
        }));
        if let Err(payload) = reported {
            schedule::resume_later(payload);
        }
    }

    fn connection_done(&self) {
        let left = self.0.active.get() - 1;
        self.0.active.set(left);
        if left == 0 && self.0.stopping.get() {
            self.wake_drained();
        }
    }

    /// Fulfils the [`drained`](Server::drained) promises.
    fn wake_drained(&self) {
        let drained = self.0.drained.borrow_mut().take();
        if let Some((_, r)) = drained {
            r.wakeup(());
        }
    }

    fn serve<H: Handler>(&self, fd: Fd, peer: Option<SocketAddr>, handler: &Rc<H>) {
        let state = &self.0;
        state.active.set(state.active.get() + 1);
        state.accepted.set(state.accepted.get() + 1);
        let (ic, oc) = channels(fd, state.config.channels);
        let no_close = state.config.no_close;
        let (ic2, oc2, ic3, oc3) = (ic.clone(), oc.clone(), ic.clone(), oc.clone());
        let (handler, s1, s2, s3) = (handler.clone(), self.clone(), self.clone(), self.clone());
        let served = catch(move || handler(peer, ic, oc), Promise::fail)
            .try_bind(
                move |()| {
                    if no_close {
                        return Promise::ret(());
                    }
                    close_connection(ic2, oc2, true)
                },
                move |e| {
                    s1.report(&e, "a connection handler");
                    if no_close {
                        return Promise::ret(());
                    }
                    close_connection(ic3, oc3, false)
                },
            )
            .catch(move |e| {
                s2.report(&e, "closing a connection");
                Promise::ret(())
            })
            .map(move |()| s3.connection_done());
        drop(served);
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.0.local_addr)
            .field("active", &self.0.active.get())
            .field("stopping", &self.0.stopping.get())
            .finish()
    }
}

/// What [`establish_server`] calls for each connection.
trait Handler: Fn(Option<SocketAddr>, InputChannel, OutputChannel) -> Promise<()> + 'static {}

impl<H: Fn(Option<SocketAddr>, InputChannel, OutputChannel) -> Promise<()> + 'static> Handler
    for H
{
}

fn accept_loop<H: Handler>(server: Server, handler: Rc<H>, burst: u32) -> Promise<()> {
    if server.0.stopping.get() {
        return Promise::ret(());
    }
    let accepted = server.0.listener.accept();
    let at_once = accepted.is_resolved();
    let (s2, h2) = (server.clone(), handler.clone());
    accepted.try_bind(
        move |(fd, peer)| {
            server.serve(fd, peer, &handler);
            match (at_once, burst) {
                (true, b) if b >= ACCEPT_BURST => {
                    pause().bind(move |()| accept_loop(server, handler, 0))
                }
                (true, b) => accept_loop(server, handler, b + 1),
                (false, _) => accept_loop(server, handler, 0),
            }
        },
        move |e| {
            if s2.0.stopping.get() {
                return Promise::ret(());
            }
            if is_about_one_connection(&e) {
                // Not the server's trouble: the next connection may be fine.
                return pause().bind(move |()| accept_loop(s2, h2, 0));
            }
            // EMFILE and the like: report, and try again a little later rather than spin.
            s2.report(&e, "accepting a connection");
            unix::sleep(Duration::from_millis(100)).bind(move |()| accept_loop(s2, h2, 0))
        },
    )
}

/// Does an `accept` that failed with `e` say something about one connection only, not about the
/// listener? `ECONNABORTED`: a client reset its connection before it was accepted (Lwt's server
/// loop tries again at once, silently). And, on Linux, the network errors that accept(2) passes
/// on from a new connection and says to treat like `EAGAIN` (`EPROTO`, `ENETDOWN`, ...). These
/// are not reported: each is about a client that is gone, and with the default hook a report
/// exits the process.
fn is_about_one_connection(e: &Exn) -> bool {
    use rustix::io::Errno;
    let Some(errno) = e.downcast_ref::<io::Error>().and_then(Errno::from_io_error) else {
        return false;
    };
    let linux_pending = cfg!(any(target_os = "linux", target_os = "android"))
        && [
            Errno::PROTO,
            Errno::NETDOWN,
            Errno::NOPROTOOPT,
            Errno::HOSTDOWN,
            Errno::NONET,
            Errno::HOSTUNREACH,
            Errno::OPNOTSUPP,
            Errno::NETUNREACH,
        ]
        .contains(&errno);
    errno == Errno::CONNABORTED || linux_pending
}

/// Lwt_io's `establish_server_with_client_address`: listens on `addr` and calls
/// `handler(peer, input, output)` for each connection (`peer` is `None` for Unix-domain
/// clients). The connection's channels are closed when the handler's promise resolves (the
/// output channel is written out first, as with [`with_connection`], for as long as the peer
/// takes some of it at least once a second, so that a peer that does not read cannot keep the
/// connection open). A
/// handler's rejection or panic goes to the [async exception hook](crate::hook), as in Lwt,
/// whose default prints it and exits the process (a client that resets its connection while
/// the handler reads is enough): a server should use [`establish_server_with`] and
/// [`ServerConfig::on_error`], or set a hook, to keep serving.
///
/// The handler is an `Fn`, called once per connection: state it changes lives in a `Cell` or
/// `RefCell` it captures, and a resolver that the first connection to get there resolves (Lwt's
/// `if Lwt.is_sleeping p then Lwt.wakeup r ()`) is a [`SharedResolver`](crate::SharedResolver).
///
/// ```
/// use lwt_core::{io, main};
/// let echo = |_peer, ic: io::InputChannel, oc: io::OutputChannel| {
///     ic.read_line().bind(move |line| oc.write_line(line))
/// };
/// let server = main::run(io::establish_server(("127.0.0.1", 0), echo)).unwrap();
/// let reply = io::with_connection(server.local_addr().unwrap(), |ic, oc| {
///     oc.write_line("echo?").bind(move |()| oc.flush()).bind(move |()| ic.read_line())
/// });
/// assert_eq!(main::run(reply).unwrap(), "echo?");
/// main::run(server.shutdown()).unwrap();
/// ```
pub fn establish_server(
    addr: impl Into<Address>,
    handler: impl Fn(Option<SocketAddr>, InputChannel, OutputChannel) -> Promise<()> + 'static,
) -> Promise<Server> {
    establish_server_with(addr, ServerConfig::default(), handler)
}

/// [`establish_server`] with options: buffer size, line-length limit, error handler. Rejected
/// with [`InvalidArgument`](crate::InvalidArgument), before listening, if the buffer size is not
/// valid (see [`ServerConfig::buffer_size`]).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use lwt_core::{io, main, Promise};
/// let errors = Rc::new(RefCell::new(Vec::new()));
/// let e = errors.clone();
/// let config = io::ServerConfig::new().on_error(move |exn| e.borrow_mut().push(exn.to_string()));
/// let server = main::run(io::establish_server_with("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), config,
///     |_, _, _| Promise::fail_with("handler failed"))).unwrap();
/// main::run(io::with_connection(server.local_addr().unwrap(), |ic, _oc| ic.read_to_end())).unwrap();
/// main::run(server.shutdown()).unwrap();
/// assert_eq!(*errors.borrow(), ["handler failed"]);
/// ```
pub fn establish_server_with(
    addr: impl Into<Address>,
    config: ServerConfig,
    handler: impl Fn(Option<SocketAddr>, InputChannel, OutputChannel) -> Promise<()> + 'static,
) -> Promise<Server> {
    if let Err(e) = config.channels.check("io::establish_server_with") {
        return Promise::fail(e);
    }
    let backlog = config.backlog.unwrap_or(unix::SOMAXCONN);
    listen(addr.into()).bind(move |listener| {
        if let Err(e) = listener.set_backlog(backlog) {
            return Promise::fail(e);
        }
        let server = Server(Rc::new(ServerState {
            local_addr: listener.local_addr().ok(),
            listener,
            config,
            accepting: RefCell::new(None),
            stopping: Cell::new(false),
            active: Cell::new(0),
            accepted: Cell::new(0),
            drained: RefCell::default(),
        }));
        let accepting = accept_loop(server.clone(), Rc::new(handler), 0);
        *server.0.accepting.borrow_mut() = Some(accepting);
        Promise::ret(server)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::main;

    /// Found in review (session 25): every failed `accept` was reported, and with the default
    /// hook a report exits the process, so a client that reset its connection before it was
    /// accepted could stop a server. Lwt's loop retries `ECONNABORTED` silently.
    #[test]
    fn accept_errors_about_one_connection_are_not_the_servers() {
        let exn = |errno: rustix::io::Errno| Exn::from(io::Error::from(errno));
        assert!(is_about_one_connection(&exn(
            rustix::io::Errno::CONNABORTED
        )));
        assert!(is_about_one_connection(&exn(rustix::io::Errno::PROTO)));
        assert!(is_about_one_connection(&exn(rustix::io::Errno::NETUNREACH)));
        assert!(!is_about_one_connection(&exn(rustix::io::Errno::MFILE)));
        assert!(!is_about_one_connection(&exn(rustix::io::Errno::NOBUFS)));
        assert!(!is_about_one_connection(&Exn::failure("not an OS error")));
    }

    fn closed_port() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    fn connect_to_each(host: &str, addrs: Vec<SocketAddr>) -> Exn {
        let connect: Rc<dyn Fn(SocketAddr) -> Promise<Fd>> = Rc::new(unix::connect_tcp);
        main::run(first_that_works(
            host.into(),
            7,
            addrs,
            0,
            Vec::new(),
            connect,
        ))
        .unwrap_err()
    }

    /// Found in review (rev59, session 35; fixed in session 36): of several addresses only the last one's error
    /// was kept, and the host's name was in none.
    #[test]
    fn every_address_s_error_is_kept_in_the_order_tried() {
        let (a, b) = (closed_port(), closed_port());
        let e = connect_to_each("db.internal", vec![a, b]);
        let refused = io::Error::from(rustix::io::Errno::CONNREFUSED);
        assert_eq!(
            e.to_string(),
            format!("db.internal:7: {a}: {refused}; {b}: {refused}")
        );
        let kind = e.downcast_ref::<io::Error>().map(io::Error::kind);
        assert_eq!(kind, Some(io::ErrorKind::ConnectionRefused));
    }

    #[test]
    fn a_host_with_no_address_is_named_and_an_ipv6_host_bracketed() {
        let e = connect_to_each("::1", Vec::new());
        assert_eq!(e.to_string(), "[::1]:7: the host has no address");
        let kind = e.downcast_ref::<io::Error>().map(io::Error::kind);
        assert_eq!(kind, Some(io::ErrorKind::NotFound));
    }
}
