//! Buffered channels (Lwt's `Lwt_io`): reading lines and characters, writing and printing,
//! pipes, files and network connections.
//!
//! ```
//! use lwt_core::{io, main};
//!
//! let (ic, oc) = io::pipe().unwrap();
//! let p = io::read_char(&ic);
//! assert!(p.is_pending()); // Lwt's `Sleep`: nothing to read yet
//! main::run(io::write_char(&oc, 'a').bind(move |()| io::flush(&oc))).unwrap();
//! assert_eq!(main::run(p).unwrap(), 'a');
//! ```
//!
//! | Lwt_io | here |
//! |---|---|
//! | `input_channel`, `output_channel` | [`InputChannel`], [`OutputChannel`] (cheap clonable handles) |
//! | `of_fd`, `pipe` | [`InputChannel::of_fd`], [`OutputChannel::of_fd`], [`pipe`] |
//! | `stdin`, `stdout`, `stderr` | [`stdin()`], [`stdout()`], [`stderr()`] |
//! | `read_char`, `read_char_opt`, `read_line`, `read_line_opt` | the same names, giving a `String` (a line that is not UTF-8 is a rejection); [`InputChannel::read_line_bytes`] and [`InputChannel::read_line_bytes_opt`] give the bytes, as OCaml's `string` does; [`InputChannel::read_until`] keeps the delimiter (Rust's `read_until`) |
//! | `read ?count`, `read_into_exactly` | [`read`], [`InputChannel::read_to_end`], [`read_exactly`] |
//! | `read_into`, `read_into_exactly` into a caller's buffer | [`InputChannel::read_into`], [`InputChannel::read_into_exactly`] (the buffer is moved in and given back, as with [`Fd::read_into`](crate::unix::Fd::read_into)) |
//! | `write`, `write_char`, `write_line`, `fprintf`, `flush`, `close` | the same names ([`OutputChannel::printf`] for `fprintf`; `fprint` and `fprintl` are `write` and `write_line`) |
//! | `flush_all`, `is_busy`, `file_length` | [`flush_all`], [`InputChannel::is_busy`], [`OutputChannel::is_busy`], [`file_length`] |
//! | `write_from`, `write_from_exactly`, `write_from_string` | [`OutputChannel::write`] of the slice (`&buf[ofs..ofs + len]`): it is copied at once, so the caller keeps its buffer, and all of it is accepted (a partial count would only tell that the channel's buffer was full) |
//! | `print`, `printl`, `printf`, `eprint`, `eprintl`, `eprintf` | the same names; the function `printf` takes `format_args!(...)` (or see the macros below) |
//! | `read_lines`, `write_lines`, `read_chars`, `write_chars` | [`read_lines`], [`write_lines`], [`read_chars`], [`write_chars`] (over [`stream::Stream`](crate::stream::Stream)) |
//! | `read_int16` ... `write_float64`, `LE`, `BE` | [`InputChannel::read_be`], [`InputChannel::read_le`], [`OutputChannel::write_be`]... for every fixed-width [`Number`] (see [`ByteOrder`]) |
//! | `abort` | [`abort`], [`InputChannel::abort`], [`OutputChannel::abort`] |
//! | `position`, `set_position`, `length`, `buffered` | the same names, on [`InputChannel`] and [`OutputChannel`] |
//! | `End_of_file`, `Channel_closed` | [`EndOfFile`], [`ChannelClosed`] |
//! | `open_file ~mode`, `with_file ~mode` | [`open_file`], [`with_file`] with [`Input`], [`Output`], [`Append`] |
//! | `lines_of_file`, `lines_to_file`, `chars_of_file`, `chars_to_file` | the same names |
//! | `open_connection`, `with_connection` | [`open_connection`], [`with_connection`] ([`Address`]: IP, host name or Unix path) |
//! | `?in_buffer`, `?out_buffer`, `of_fd ?buffer` on a socket | [`open_connection_with`], [`with_connection_with`], [`socket_channels_with`] with a [`ChannelConfig`] |
//! | `establish_server_with_client_address`, `shutdown_server` | [`establish_server`], [`Server::shutdown`] (and [`Server::drained`] to wait for the connections) |
//! | `establish_server ?buffer_size ?backlog ?no_close` | [`establish_server_with`] and a [`ServerConfig`] ([`ServerConfig::buffer_size`], [`ServerConfig::backlog`], [`ServerConfig::no_close`]) |
//! | `printf`, `printlf`, `eprintf`, `eprintlf`, `fprintf`, `fprintlf` with a format | the macros [`printf!`](crate::printf!), [`printlf!`](crate::printlf!), [`eprintf!`](crate::eprintf!), [`eprintlf!`](crate::eprintlf!), [`fprintf!`](crate::fprintf!), [`fprintlf!`](crate::fprintlf!) (`lwt::printlf!("{n} lines")`, also `lwt::io::printlf!`), or the functions with `format_args!`; the functions without a format (`printl`, `print`, `eprintl`...) are in this module only: `lwt::io::printl(s)`, not `lwt::printl` |
//! | `make`, `of_bytes`, `atomic`, `direct_access`, `block`, `resize_buffer`, `set_default_buffer_size`, `zero`, `null`, `hexdump`, `read_value`, `write_value`, temporary files, `establish_server_with_client_socket` | not provided: channels are made over an [`Fd`](crate::unix::Fd) only (wrap another transport's descriptor with [`Fd::from_owned`](crate::unix::Fd::from_owned)); a buffer's size is set when the channel is made; [`Stream::hexdump`](crate::stream::Stream::hexdump) formats bytes; `Marshal` has no Rust counterpart; a server that wants the raw socket uses a [`Listener`](crate::unix::Listener) |
//!
//! # How channels behave
//!
//! * **One operation at a time.** Each channel has a lock; an operation started while another
//!   is in progress waits in a FIFO queue (Lwt does the same), so concurrent `read_line`s get
//!   whole lines, in the order they were called, and writes keep their order.
//! * **Automatic flushing, like Lwt.** A write puts the data in the channel's buffer and is
//!   fulfilled at once; the buffer is written out at the next iteration of the loop (one flush
//!   per burst of writes), when it is full, on [`flush`] and on [`close`].
//! * **Printing waits for the output.** Lwt's `printl` is fulfilled once the line is in the
//!   buffer, and Lwt flushes the standard channels at exit. A Rust program ends when `main`
//!   returns, so here [`print()`], [`printl`] and [`printf()`] are fulfilled once their text has
//!   reached the descriptor (they wait for the automatic flush, which still serves a whole burst
//!   of prints at once): `main::run(io::printl("done"))` has printed `done` when it returns.
//!   Writes through [`stdout()`] directly behave like Lwt's; flush them before `main` returns,
//!   or end with [`main::exit`](crate::main::exit), whose exit hooks flush every output channel
//!   still open (files and sockets too), as Lwt's do.
//! * **Bad input gets a clear rejection, nothing is lost.** The end of input is [`EndOfFile`]; a
//!   line longer than the channel's limit is [`LineTooLong`] (the channel never buffers much more
//!   than the limit), and its bytes stay readable; text that is not UTF-8 is a
//!   [`FromUtf8Error`](std::string::FromUtf8Error) holding the bytes (an [`InvalidUtf8`] for a
//!   character read, which tells a bad sequence from a truncated one); a closed channel is
//!   [`ChannelClosed`]; system errors (a closed descriptor, `BrokenPipe`, `ConnectionRefused`)
//!   are the [`std::io::Error`]. A failed write leaves the channel broken: later operations get
//!   the same error, and the unwritten bytes stay counted in [`OutputChannel::buffered`].
//!   Writing to a pipe nobody reads is an error, not a SIGPIPE death (Rust programs ignore the
//!   signal).
//! * **Loops over buffered data run in constant stack.** Reading buffered data completes at
//!   once, and `p.bind(f)` on a resolved promise calls `f` at once; Rust has no tail calls
//!   (OCaml's `>>=` is one there), so the usual recursive loop
//!   `read_line_opt(ic).bind(|l| ...; again(ic))` would grow the stack by one call per line.
//!   So after 128 channel operations in a row that completed at once, the next one waits for
//!   the next turn of the loop (keeping its place in the channel's queue), which unwinds such a
//!   loop. A million-line file read this way needs no more stack than a short one. The
//!   operations other callers queued meanwhile go first: writers that each write a line in two
//!   operations (`write(prefix)`, then `write_line(rest)`), all on one channel, find their lines
//!   cut from the 65th line on (the 129th operation in a row), where Lwt cuts them only when a
//!   flush has to wait for the descriptor (a pipe whose reader is behind). Neither
//!   keeps a line of several operations whole: write it in one (`write_line(format!(..))`), or
//!   serialize the writers with a [`sync::Mutex`](crate::sync::Mutex).
//! * **Closing a connection sends what is buffered.** The two channels of a socket share it:
//!   closing the output channel writes out its buffer and shuts the sending side down (the peer
//!   sees the end of input; the input channel still reads the reply); closing the input channel
//!   closes the output channel first, then shuts the socket down both ways and closes it, so the
//!   peer's reader sees the end and its writers fail instead of waiting. See
//!   [`socket_channels`].
//! * **Canceling a read loses nothing.** A read in progress is shared by the channel; a caller
//!   that gives up (with [`pick`](crate::pick) and a timeout, say) leaves the data it would have
//!   got in the buffer for the next read.
//! * **Canceling a write does not take its bytes back.** A write that waits for the descriptor
//!   (its data did not fit in the buffer) and is canceled puts what it has not written back in
//!   the buffer, and the automatic flush writes it out at the next turn of the loop, as Lwt's
//!   does: the bytes go out once, and [`OutputChannel::buffered`] counts them until they have.
//!   A caller that must not send them drops the channel with [`OutputChannel::abort`].
//!
//! Differences from Lwt, and why: `read_char` decodes a UTF-8 character (`read_byte` reads a
//! byte), because Rust's `char` is a Unicode character; `read_line` has a length limit, so that
//! a peer cannot make a server buffer without bound; a `read_exactly` (and a binary number) that
//! meets the end of input leaves the bytes it found in the channel, where Lwt's
//! `read_into_exactly` consumes them; `read(0)` gives an empty vector at once, where Lwt's
//! `read ~count:0` with nothing buffered waits for input first; a read in progress takes its
//! bytes out of the buffer only when it completes, so meanwhile they count in `buffered`, not in
//! `position` (Lwt's `read_line` consumes as it goes); printing waits for the output (above); a write that does
//! not fit in an output channel's buffer writes the buffer and itself out at once, in one system
//! call (up to 64 KiB), so the reader gets the whole write now, where Lwt fills the buffer,
//! writes it, again, and keeps the rest (1 byte to a whole buffer; for a binary number, the
//! whole number, after writing out the buffer alone) for the next flush: the bytes that have
//! reached the descriptor and [`OutputChannel::buffered`] differ until the next flush, what is
//! eventually written is the same;
//! closing a connection's output channel only shuts its sending side down, and closing its input
//! channel writes out the output's buffer before the socket closes (Lwt closes the socket with
//! either channel and drops that buffer: see [`socket_channels`]).

mod error;
mod file;
mod format;
mod input;
mod lock;
mod net;
mod number;
mod output;
mod owner;

use std::cell::OnceCell;
use std::fmt;
use std::mem::ManuallyDrop;

/// The formatting macros, here too, where an OCaml reader looks for `Lwt_io.printlf`
/// (`io::printlf!("{n} lines")`); they are defined at the crate's root.
pub use crate::{eprintf, eprintlf, fprintf, fprintlf, printf, printlf};
pub use error::{ChannelClosed, EndOfFile, InvalidUtf8, LineTooLong};
pub use file::{
    chars_of_file, chars_to_file, file_length, lines_of_file, lines_to_file, open_file, with_file,
    Append, Input, OpenMode, Output,
};
pub use input::InputChannel;
pub use net::{
    establish_server, establish_server_with, open_connection, open_connection_with,
    socket_channels, socket_channels_with, with_connection, with_connection_with, Address,
    ChannelConfig, Server, ServerConfig, MAX_BUFFER_SIZE,
};
pub use number::{ByteOrder, Number};
pub use output::{flush_all, OutputChannel};

use crate::promise::Promise;
use crate::unix;
use owner::{Owner, Standard};

/// The buffer size of new channels, in bytes (Lwt's `default_buffer_size`).
///
/// ```
/// assert_eq!(lwt_core::io::DEFAULT_BUFFER_SIZE, 4096);
/// ```
pub const DEFAULT_BUFFER_SIZE: usize = 4096;

/// The longest line [`InputChannel::read_line`] accepts by default: 1 MiB.
///
/// ```
/// assert_eq!(lwt_core::io::DEFAULT_MAX_LINE_LENGTH, 1 << 20);
/// ```
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1 << 20;

/// What input and output channels have in common: they can be closed (Lwt_io's `close` works
/// on both).
///
/// ```
/// use lwt_core::{io::{self, Channel}, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::close(&oc)).unwrap();
/// main::run(io::close(&ic)).unwrap();
/// assert!(ic.is_closed() && Channel::is_closed(&oc));
/// ```
pub trait Channel: Clone + 'static {
    /// Closes the channel (see [`InputChannel::close`] and [`OutputChannel::close`]).
    fn close(&self) -> Promise<()>;

    /// Closes the channel at once, without writing anything out (see [`InputChannel::abort`]
    /// and [`OutputChannel::abort`]).
    fn abort(&self) -> Promise<()>;

    /// Has the channel been closed?
    fn is_closed(&self) -> bool;
}

/// How long the close of a connection ([`with_connection`]'s, a server's) waits for the peer
/// to take some of what the output holds, and the close after a failed [`with_file`] body for
/// all of it, before it aborts the channel.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Closes a file channel whose body failed: what it holds is written out first, as after a
/// success, but for at most [`CLOSE_GRACE`], then the channel is aborted. The body may have
/// given up on a FIFO's reader that does not read (a write canceled by a timeout puts its bytes
/// back in the buffer), and a close waiting for it would never end. Rejected if the close fails
/// before the grace ends; giving up is not a failure. (Connections watch the peer's progress
/// instead: `net::close_connection`.)
pub(crate) fn close_after_failure<C: Channel>(channel: &C) -> Promise<()> {
    let aborting = channel.clone();
    let closed = channel.close().map(|()| true);
    let gave_up = crate::unix::sleep(CLOSE_GRACE).map(|()| false);
    crate::combinators::pick(vec![closed, gave_up]).bind(move |closed| {
        if closed {
            Promise::ret(())
        } else {
            aborting.abort()
        }
    })
}

/// Lwt_io's `pipe`: a pipe, as `(input, output)` channels.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(oc.write_line("through the pipe").bind(move |()| oc.flush())).unwrap();
/// assert_eq!(main::run(ic.read_line()).unwrap(), "through the pipe");
/// ```
pub fn pipe() -> std::io::Result<(InputChannel, OutputChannel)> {
    let (r, w) = unix::pipe()?;
    Ok((InputChannel::of_fd(r), OutputChannel::of_fd(w)))
}

// ---- the standard channels ----

// Never dropped (`ManuallyDrop`: no thread-local destructor), so that nothing can run when the
// thread exits; the OS closes the duplicated descriptors.
thread_local! {
    static STDIN: ManuallyDrop<OnceCell<InputChannel>> = const { ManuallyDrop::new(OnceCell::new()) };
    static STDOUT: ManuallyDrop<OnceCell<OutputChannel>> = const { ManuallyDrop::new(OnceCell::new()) };
    static STDERR: ManuallyDrop<OnceCell<OutputChannel>> = const { ManuallyDrop::new(OnceCell::new()) };
}

fn owner(fd: std::io::Result<unix::Fd>, which: Standard) -> Owner {
    match fd {
        Ok(fd) => Owner::Standard(fd, which),
        Err(e) => Owner::Failed(e.into()),
    }
}

fn std_output(fd: std::io::Result<unix::Fd>, which: Standard) -> OutputChannel {
    // Like every output channel, flushed at exit (by main::exit and main::run_exit_hooks).
    OutputChannel::new(owner(fd, which), DEFAULT_BUFFER_SIZE)
}

/// Lwt_io's `stdin`: this thread's channel on the standard input. Reads go through the thread
/// pool (the descriptor stays blocking, shared with the parent process), so input from a
/// terminal, a pipe, a file or `/dev/null` all work.
///
/// The channel reads a duplicate of descriptor 0. Closing it ends the standard input as Lwt's
/// close of descriptor 0 does (a process writing to it gets `EPIPE`): descriptor 0 is then
/// pointed at `/dev/null` rather than closed, so that its number is not reused. (Another
/// thread's channel, which has its own duplicate, reads on until it is closed too.)
///
/// ```no_run
/// use lwt_core::{io, main};
/// let line = main::run(io::read_line(&io::stdin()));
/// ```
pub fn stdin() -> InputChannel {
    STDIN.with(|c| {
        c.get_or_init(|| {
            InputChannel::new(owner(unix::stdin(), Standard::Input), DEFAULT_BUFFER_SIZE)
        })
        .clone()
    })
}

/// Lwt_io's `stdout`: this thread's channel on the standard output (auto-flushed; see the
/// [module docs](self) for when to flush). The descriptor stays in blocking mode, since the
/// parent process shares it, so its writes run on the thread pool, as Lwt's do: a reader that
/// does not keep up blocks a worker, never the loop.
///
/// The channel writes to a duplicate of descriptor 1. Closing it ends the standard output as
/// Lwt's close of descriptor 1 does, so that the process reading it sees the end of input while
/// this one goes on: descriptor 1 is then pointed at `/dev/null` rather than closed, so that its
/// number is not reused by the next file opened, and `println!` afterwards writes nowhere.
/// (Another thread's channel, which has its own duplicate, keeps the output open until it is
/// closed too.) [`stderr`] does the same with descriptor 2. Should that fail (a system with no
/// `/dev/null`), the close is rejected with the error, "ending the standard output: ..."; the
/// channel and its duplicate are closed all the same.
///
/// ```
/// use lwt_core::{io, main};
/// let out = io::stdout();
/// main::run(out.write("written, ").bind(move |()| out.flush())).unwrap();
/// ```
pub fn stdout() -> OutputChannel {
    STDOUT.with(|c| {
        c.get_or_init(|| std_output(unix::stdout(), Standard::Output))
            .clone()
    })
}

/// Lwt_io's `stderr`: this thread's channel on the standard error.
///
/// ```
/// use lwt_core::{io, main};
/// main::run(io::stderr().write_line("to stderr")).unwrap();
/// main::run(io::flush(&io::stderr())).unwrap();
/// ```
pub fn stderr() -> OutputChannel {
    STDERR.with(|c| {
        c.get_or_init(|| std_output(unix::stderr(), Standard::Error))
            .clone()
    })
}

// ---- Lwt_io's functions, for those who write `Lwt_io.read_line ic` ----

/// [`InputChannel::read_char`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::write(&oc, "z").bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(io::read_char(&ic)).unwrap(), 'z');
/// ```
pub fn read_char(ic: &InputChannel) -> Promise<char> {
    ic.read_char()
}

/// [`InputChannel::read_char_opt`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::close(&oc)).unwrap();
/// assert_eq!(main::run(io::read_char_opt(&ic)).unwrap(), None);
/// ```
pub fn read_char_opt(ic: &InputChannel) -> Promise<Option<char>> {
    ic.read_char_opt()
}

/// [`InputChannel::read_line`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::write_line(&oc, "l").bind(move |()| io::flush(&oc))).unwrap();
/// assert_eq!(main::run(io::read_line(&ic)).unwrap(), "l");
/// ```
pub fn read_line(ic: &InputChannel) -> Promise<String> {
    ic.read_line()
}

/// [`InputChannel::read_line_opt`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::close(&oc)).unwrap();
/// assert_eq!(main::run(io::read_line_opt(&ic)).unwrap(), None);
/// ```
pub fn read_line_opt(ic: &InputChannel) -> Promise<Option<String>> {
    ic.read_line_opt()
}

/// Lwt_io's `read_lines`: the lines of `ic` as a [`Stream`](crate::stream::Stream), read lazily
/// (one `read_line_opt` per element a reader asks for); the stream ends at the end of input, and
/// a read error rejects the waiting reads.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// let lines = io::read_lines(&ic);
/// main::run(io::write(&oc, "one\r\ntwo\nthree").bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(lines.to_list()).unwrap(), ["one", "two", "three"]);
/// ```
///
/// A line longer than the channel's [`max_line_length`](InputChannel::max_line_length) rejects
/// the read with [`LineTooLong`] and ends the stream: the line stays in the channel, where every
/// later `read_line` would meet it again (a reader that skips errors, through
/// [`wrap_exn`](crate::stream::Stream::wrap_exn), would loop for ever). As for any failure of a
/// stream's generator, only the read that met it is rejected: a clone of the stream that had
/// not read so far sees the end there. Other errors leave the stream open, as in Lwt: a line
/// that is not UTF-8 is consumed, and the next read goes on.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// ic.set_max_line_length(4);
/// main::run(io::write(&oc, "ok\ntoo long\nnext\n").bind(move |()| io::close(&oc))).unwrap();
/// let lines = io::read_lines(&ic).wrap_exn();
/// let got = main::run(lines.to_list()).unwrap();
/// assert_eq!(got.len(), 2);
/// assert_eq!(got[0].as_ref().unwrap(), "ok");
/// assert!(got[1].as_ref().unwrap_err().is::<io::LineTooLong>());
/// assert!(main::run(ic.read_line()).unwrap_err().is::<io::LineTooLong>()); // still there
/// ```
pub fn read_lines(ic: &InputChannel) -> crate::stream::Stream<String> {
    let ic = ic.clone();
    let ended = std::rc::Rc::new(std::cell::Cell::new(false));
    crate::stream::from(move || {
        if ended.get() {
            return Promise::ret(None);
        }
        let ended = ended.clone();
        ic.read_line_opt().catch(move |e| {
            ended.set(e.is::<LineTooLong>());
            Promise::fail(e)
        })
    })
}

/// Lwt_io's `read_chars`: the characters of `ic` as a [`Stream`](crate::stream::Stream), read
/// lazily (one [`read_char_opt`](InputChannel::read_char_opt) per element a reader asks for);
/// the stream ends at the end of input, and bytes that are not UTF-8 reject the waiting read
/// (with the [`InvalidUtf8`] holding them).
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// let chars = io::read_chars(&ic);
/// main::run(io::write(&oc, "né").bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(chars.to_list()).unwrap(), ['n', 'é']);
/// ```
pub fn read_chars(ic: &InputChannel) -> crate::stream::Stream<char> {
    let ic = ic.clone();
    crate::stream::from(move || ic.read_char_opt())
}

/// Lwt_io's `write_chars`: writes every character of `chars` to `oc` (UTF-8 encoded), in order.
///
/// ```
/// use lwt_core::{io, main, stream};
/// let (ic, oc) = io::pipe().unwrap();
/// let written = io::write_chars(&oc, stream::of_list(vec!['λ', '!']));
/// main::run(written.bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(ic.read_to_end()).unwrap(), "λ!".as_bytes());
/// ```
pub fn write_chars(oc: &OutputChannel, chars: crate::stream::Stream<char>) -> Promise<()> {
    let oc = oc.clone();
    chars.iter_s(move |c| oc.write_char(c))
}

/// Lwt_io's `write_lines`: writes every line of `lines` to `oc`, each followed by `\n`, in order.
///
/// ```
/// use lwt_core::{io, main, stream};
/// let (ic, oc) = io::pipe().unwrap();
/// let written = io::write_lines(&oc, stream::of_list(vec!["a".to_string(), "b".to_string()]));
/// main::run(written.bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(io::read_lines(&ic).to_list()).unwrap(), ["a", "b"]);
/// ```
pub fn write_lines(oc: &OutputChannel, lines: crate::stream::Stream<String>) -> Promise<()> {
    let oc = oc.clone();
    lines.iter_s(move |line| oc.write_line(line))
}

/// [`InputChannel::read`] as a function: at most `count` bytes, empty at the end of input.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::write(&oc, "abc").bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(io::read(&ic, 10)).unwrap(), b"abc");
/// ```
pub fn read(ic: &InputChannel, count: usize) -> Promise<Vec<u8>> {
    ic.read(count)
}

/// [`InputChannel::read_exactly`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(io::write(&oc, "abcd").bind(move |()| io::close(&oc))).unwrap();
/// assert_eq!(main::run(io::read_exactly(&ic, 4)).unwrap(), b"abcd");
/// ```
pub fn read_exactly(ic: &InputChannel, count: usize) -> Promise<Vec<u8>> {
    ic.read_exactly(count)
}

/// [`OutputChannel::write`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (_ic, oc) = io::pipe().unwrap();
/// main::run(io::write(&oc, "x")).unwrap();
/// assert_eq!(oc.buffered(), 1);
/// ```
pub fn write(oc: &OutputChannel, data: impl AsRef<[u8]>) -> Promise<()> {
    oc.write(data)
}

/// [`OutputChannel::write_char`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (_ic, oc) = io::pipe().unwrap();
/// main::run(io::write_char(&oc, 'a')).unwrap();
/// assert_eq!(oc.buffered(), 1);
/// ```
pub fn write_char(oc: &OutputChannel, c: char) -> Promise<()> {
    oc.write_char(c)
}

/// [`OutputChannel::write_line`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (_ic, oc) = io::pipe().unwrap();
/// main::run(io::write_line(&oc, "ab")).unwrap();
/// assert_eq!(oc.buffered(), 3);
/// ```
pub fn write_line(oc: &OutputChannel, line: impl AsRef<[u8]>) -> Promise<()> {
    oc.write_line(line)
}

/// [`OutputChannel::flush`] as a function.
///
/// ```
/// use lwt_core::{io, main};
/// let (_ic, oc) = io::pipe().unwrap();
/// main::run(io::write(&oc, "x").bind({ let oc = oc.clone(); move |()| io::flush(&oc) })).unwrap();
/// assert_eq!(oc.buffered(), 0);
/// ```
pub fn flush(oc: &OutputChannel) -> Promise<()> {
    oc.flush()
}

/// Lwt_io's `close`, for either kind of channel.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, _oc) = io::pipe().unwrap();
/// main::run(io::close(&ic)).unwrap();
/// assert!(ic.is_closed());
/// let read = main::run(ic.read_line()).unwrap_err();
/// assert!(read.is::<io::ChannelClosed>());
/// ```
pub fn close<C: Channel>(channel: &C) -> Promise<()> {
    channel.close()
}

/// Lwt_io's `abort`, for either kind of channel: closes it at once, without writing out what
/// an output channel holds.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(oc.write("x")).unwrap();
/// main::run(io::abort(&oc)).unwrap();
/// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"");
/// ```
pub fn abort<C: Channel>(channel: &C) -> Promise<()> {
    channel.abort()
}

// ---- printing ----

/// Writes with `write` on `oc`, then waits until the text has reached the descriptor.
fn written(oc: OutputChannel, write: impl FnOnce(&OutputChannel) -> Promise<()>) -> Promise<()> {
    write(&oc).bind(move |()| oc.flushed())
}

/// Lwt_io's `print`: writes `text` on the standard output; fulfilled once it has been written
/// out (see the [module docs](self)).
///
/// ```
/// lwt_core::main::run(lwt_core::io::print("no newline, ")).unwrap();
/// ```
pub fn print(text: impl AsRef<[u8]>) -> Promise<()> {
    written(stdout(), |oc| oc.write(text))
}

/// Lwt_io's `printl`: writes `line` and a newline on the standard output; fulfilled once they
/// have been written out, so `main::run(io::printl(..))` has printed when it returns.
///
/// ```
/// use lwt_core::{io, main, ret};
/// main::run(ret("hello".to_string()).bind(io::printl)).unwrap();
/// ```
pub fn printl(line: impl AsRef<[u8]>) -> Promise<()> {
    written(stdout(), |oc| oc.write_line(line))
}

/// Lwt_io's `printf`: formatted text on the standard output. Pass `format_args!(...)`, or use the
/// [`printf!`](crate::printf!) macro, which passes it for you; the text is formatted at once.
/// Fulfilled once written out; rejected, with nothing written, if a `Display` fails
/// ([`InvalidArgument`](crate::InvalidArgument)) or panics ([`Panicked`](crate::Panicked)).
///
/// ```
/// let name = "world";
/// lwt_core::main::run(lwt_core::io::printf(format_args!("hello, {name}\n"))).unwrap();
/// ```
pub fn printf(args: fmt::Arguments<'_>) -> Promise<()> {
    match format::formatted(args) {
        Ok(text) => print(text),
        Err(e) => Promise::fail(e),
    }
}

/// Lwt_io's `eprint`: [`print()`] on the standard error.
///
/// ```
/// lwt_core::main::run(lwt_core::io::eprint("warning: ")).unwrap();
/// ```
pub fn eprint(text: impl AsRef<[u8]>) -> Promise<()> {
    written(stderr(), |oc| oc.write(text))
}

/// Lwt_io's `eprintl`: [`printl`] on the standard error.
///
/// ```
/// lwt_core::main::run(lwt_core::io::eprintl("something happened")).unwrap();
/// ```
pub fn eprintl(line: impl AsRef<[u8]>) -> Promise<()> {
    written(stderr(), |oc| oc.write_line(line))
}

/// Lwt_io's `eprintf`: [`printf()`] on the standard error.
///
/// ```
/// lwt_core::main::run(lwt_core::io::eprintf(format_args!("{} errors\n", 0))).unwrap();
/// ```
pub fn eprintf(args: fmt::Arguments<'_>) -> Promise<()> {
    match format::formatted(args) {
        Ok(text) => eprint(text),
        Err(e) => Promise::fail(e),
    }
}
