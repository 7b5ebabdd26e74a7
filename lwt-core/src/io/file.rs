//! Files: [`open_file`] and [`with_file`] (Lwt_io's), with the modes [`Input`], [`Output`] and
//! [`Append`], the streams of a file's lines or characters ([`lines_of_file`],
//! [`lines_to_file`], [`chars_of_file`], [`chars_to_file`]), and [`file_length`].

use std::cell::Cell;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::{Channel, InputChannel, OutputChannel};
use crate::bind::catch;
use crate::preemptive;
use crate::promise::Promise;
use crate::stream::{self, Stream};
use crate::unix::{self, Fd};

mod sealed {
    pub trait Sealed {}
}

/// How [`open_file`] opens a file, and which channel it gives: [`Input`] gives an
/// [`InputChannel`], [`Output`] and [`Append`] give an [`OutputChannel`] (Lwt's
/// `~mode:Input` / `~mode:Output`, typed the same way).
pub trait OpenMode: sealed::Sealed {
    /// The channel this mode gives.
    type Channel: Channel;

    /// The options the file is opened with.
    fn options(&self) -> OpenOptions;

    /// Wraps the opened descriptor.
    fn channel(&self, fd: Fd) -> Self::Channel;
}

/// Open for reading (the file must exist).
///
/// ```
/// let e = lwt_core::main::run(lwt_core::io::open_file("/no/such/file", lwt_core::io::Input)).unwrap_err();
/// assert_eq!(e.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input;

/// Open for writing, creating the file or truncating it (Lwt's default flags for output).
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-output-doc-{}", std::process::id()));
/// main::run(io::with_file(&path, io::Output, |oc| oc.write("new"))).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output;

/// Open for writing at the end, creating the file if needed.
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-append-doc-{}", std::process::id()));
/// std::fs::write(&path, "a").unwrap();
/// main::run(io::with_file(&path, io::Append, |oc| oc.write("b"))).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "ab");
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Append;

impl sealed::Sealed for Input {}
impl sealed::Sealed for Output {}
impl sealed::Sealed for Append {}

impl OpenMode for Input {
    type Channel = InputChannel;

    fn options(&self) -> OpenOptions {
        let mut options = OpenOptions::new();
        options.read(true);
        options
    }

    fn channel(&self, fd: Fd) -> InputChannel {
        InputChannel::of_fd(fd)
    }
}

impl OpenMode for Output {
    type Channel = OutputChannel;

    fn options(&self) -> OpenOptions {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        options
    }

    fn channel(&self, fd: Fd) -> OutputChannel {
        OutputChannel::of_fd(fd)
    }
}

impl OpenMode for Append {
    type Channel = OutputChannel;

    fn options(&self) -> OpenOptions {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        options
    }

    fn channel(&self, fd: Fd) -> OutputChannel {
        OutputChannel::of_fd(fd)
    }
}

/// Lwt_io's `open_file ~mode path`: opens a file (on the thread pool: opening can block) and
/// gives a channel on it. Rejected with the `io::Error` (which names the path) if it cannot be
/// opened. The channel's reads and writes name the path in their errors too: a directory opens,
/// and its first read is rejected with `"<path>: Is a directory (os error 21)"`.
///
/// Close an output channel (or end with [`main::exit`](crate::main::exit)) before `main`
/// returns: what its buffer still holds is written out then, and lost if the program just ends
/// (Lwt flushes at exit). [`with_file`] closes it for you.
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-open-file-doc-{}", std::process::id()));
/// let oc = main::run(io::open_file(&path, io::Output)).unwrap();
/// main::run(oc.write_line("first line").bind({ let oc = oc.clone(); move |()| oc.close() })).unwrap();
/// let ic = main::run(io::open_file(&path, io::Input)).unwrap();
/// assert_eq!(main::run(ic.read_line()).unwrap(), "first line");
/// main::run(ic.close()).unwrap();
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn open_file<M: OpenMode + 'static>(path: impl AsRef<Path>, mode: M) -> Promise<M::Channel> {
    unix::open_file(path, mode.options()).map(move |fd| mode.channel(fd))
}

/// Lwt_io's `with_file ~mode path f`: opens the file, runs `f` on the channel, and closes the
/// channel when `f`'s promise resolves, whether it is fulfilled or rejected (an output channel is
/// flushed first). The result is `f`'s, unless closing after a success fails. After a failure,
/// the close waits at most one second for the output to be written (a FIFO whose reader does
/// not read would hold it for ever), then aborts the channel; the result is `f`'s rejection.
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-with-file-doc-{}", std::process::id()));
/// main::run(io::with_file(&path, io::Output, |oc| oc.write_line("1").bind(move |()| oc.write_line("2")))).unwrap();
/// let lines = main::run(io::with_file(&path, io::Input, |ic| {
///     ic.read_line().bind(move |a| ic.read_line().map(move |b| vec![a, b]))
/// }));
/// assert_eq!(lines.unwrap(), ["1", "2"]);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn with_file<M: OpenMode + 'static, T: 'static>(
    path: impl AsRef<Path>,
    mode: M,
    f: impl FnOnce(M::Channel) -> Promise<T> + 'static,
) -> Promise<T> {
    open_file(path, mode).bind(move |channel| {
        let (closing, failed) = (channel.clone(), channel.clone());
        catch(move || f(channel), Promise::fail).try_bind(
            move |v| closing.close().map(move |()| v),
            move |e| super::close_after_failure(&failed).then(move |_| Promise::fail(e)),
        )
    })
}

/// Lwt_io's `file_length`: the size in bytes of the file at `path`, as [`InputChannel::length`]
/// gives it for the file opened for reading. A directory is rejected with
/// `ErrorKind::IsADirectory` (Lwt: `EISDIR`), a missing file with the error of `stat`
/// (`NotFound`), both naming the path.
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-file-length-doc-{}", std::process::id()));
/// std::fs::write(&path, "hello").unwrap();
/// assert_eq!(main::run(io::file_length(&path)).unwrap(), 5);
/// let dir = main::run(io::file_length(std::env::temp_dir())).unwrap_err();
/// let dir = dir.downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(dir.kind(), std::io::ErrorKind::IsADirectory);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn file_length(path: impl AsRef<Path>) -> Promise<u64> {
    let path = path.as_ref().to_path_buf();
    let checked = path.clone();
    // `stat` may block (a network file system) as `open` may: on the thread pool, as Lwt's.
    preemptive::detach(move || {
        let named = |e| unix::naming(checked.display(), e);
        match std::fs::metadata(&checked) {
            Ok(m) if m.is_dir() => Err(named(io::Error::from(io::ErrorKind::IsADirectory))),
            Ok(_) => Ok(()),
            Err(e) => Err(named(e)),
        }
    })
    .bind(move |checked: io::Result<()>| match checked {
        Ok(()) => with_file(path, Input, |ic| ic.length()),
        Err(e) => Promise::fail(e),
    })
}

/// Lwt_io's `lines_of_file`: the lines of the file at `path`, as a stream read lazily. The file
/// is opened at the first read and closed at its end, or when the stream's last handle is
/// dropped before it (Lwt's stays open until a garbage collection). A failure to open it, or to read it (an
/// `io::Error`, a line that is not UTF-8 or longer than
/// [`DEFAULT_MAX_LINE_LENGTH`](super::DEFAULT_MAX_LINE_LENGTH)), rejects the waiting read, closes
/// the file and ends the stream: the next read finds the end.
///
/// ```
/// use lwt_core::{io, main, stream};
/// let path = std::env::temp_dir().join(format!("lwt-lines-of-file-doc-{}", std::process::id()));
/// let lines = stream::of_list(vec!["one".to_string(), "two".to_string()]);
/// main::run(io::lines_to_file(&path, lines)).unwrap();
/// assert_eq!(main::run(io::lines_of_file(&path).to_list()).unwrap(), ["one", "two"]);
/// std::fs::remove_file(&path).unwrap();
/// ```
///
/// For lines longer than the default limit, open the file, raise the channel's
/// [`set_max_line_length`](super::InputChannel::set_max_line_length), and read it with
/// [`read_lines`](super::read_lines) inside [`with_file`], which closes it at the end:
///
/// ```
/// use lwt_core::{io, main};
/// let path = std::env::temp_dir().join(format!("lwt-long-lines-doc-{}", std::process::id()));
/// std::fs::write(&path, format!("{}\nshort\n", "x".repeat(2 << 20))).unwrap();
/// // The default limit rejects the 2 MiB line.
/// assert!(main::run(io::lines_of_file(&path).to_list()).is_err());
/// let lengths = main::run(io::with_file(&path, io::Input, |ic| {
///     ic.set_max_line_length(4 << 20);
///     io::read_lines(&ic).map(|line| line.len()).to_list()
/// }));
/// assert_eq!(lengths.unwrap(), [2 << 20, 5]);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn lines_of_file(path: impl AsRef<Path>) -> Stream<String> {
    of_file(path, InputChannel::read_line_opt)
}

/// Lwt_io's `chars_of_file`: the characters of the file at `path` (UTF-8), as
/// [`lines_of_file`] gives its lines.
///
/// ```
/// use lwt_core::{io, main, stream};
/// let path = std::env::temp_dir().join(format!("lwt-chars-of-file-doc-{}", std::process::id()));
/// main::run(io::chars_to_file(&path, stream::of_list(vec!['é', '!']))).unwrap();
/// assert_eq!(main::run(io::chars_of_file(&path).to_list()).unwrap(), ['é', '!']);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn chars_of_file(path: impl AsRef<Path>) -> Stream<char> {
    of_file(path, InputChannel::read_char_opt)
}

/// A stream of what `read` gives from the file at `path`, opened at the first read and closed
/// when `read` finds the end or fails.
fn of_file<T: 'static>(
    path: impl AsRef<Path>,
    read: fn(&InputChannel) -> Promise<Option<T>>,
) -> Stream<T> {
    let path = path.as_ref().to_path_buf();
    let mut opened: Option<Promise<InputChannel>> = None;
    // Set by a failure: the generator is called again after a rejection, and must then end.
    let failed = Rc::new(Cell::new(false));
    stream::from(move || {
        if failed.get() {
            return Promise::ret(None);
        }
        let ic = opened
            .get_or_insert_with(|| open_file(&path, Input))
            .clone();
        let (failed, open_failed) = (failed.clone(), failed.clone());
        ic.try_bind(
            move |ic| {
                let closing = ic.clone();
                read(&ic).try_bind(
                    move |item| match item {
                        Some(x) => Promise::ret(Some(x)),
                        None => closing.close().map(|()| None),
                    },
                    move |e| {
                        failed.set(true);
                        // The read's error is the one to report; the close's is secondary.
                        ic.close().then(move |_| Promise::fail(e))
                    },
                )
            },
            move |e| {
                open_failed.set(true);
                Promise::fail(e)
            },
        )
    })
}

/// Lwt_io's `lines_to_file`: writes every line of `lines` to the file at `path` (created or
/// truncated), each followed by `\n`, then closes it. See [`lines_of_file`].
pub fn lines_to_file(path: impl AsRef<Path>, lines: Stream<String>) -> Promise<()> {
    with_file(path, Output, move |oc| super::write_lines(&oc, lines))
}

/// Lwt_io's `chars_to_file`: writes every character of `chars` to the file at `path` (created
/// or truncated, UTF-8 encoded), then closes it. See [`chars_of_file`].
pub fn chars_to_file(path: impl AsRef<Path>, chars: Stream<char>) -> Promise<()> {
    with_file(path, Output, move |oc| super::write_chars(&oc, chars))
}
