//! The rejections of the `io` module: [`EndOfFile`], [`LineTooLong`], [`ChannelClosed`].
//!
//! Operating-system failures (a broken pipe, a refused connection, a closed descriptor) are
//! rejections with the [`std::io::Error`] itself, so they are matched by
//! [`kind()`](std::io::Error::kind).

use std::error::Error;
use std::fmt;

/// End of input (Lwt's `End_of_file`): [`read_char`](super::InputChannel::read_char),
/// [`read_line`](super::InputChannel::read_line) and
/// [`read_exactly`](super::InputChannel::read_exactly) are rejected with it when the input ends
/// before they could read what they need.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(oc.close()).unwrap();
/// let e = main::run(ic.read_char()).unwrap_err();
/// assert!(e.is::<io::EndOfFile>());
/// assert_eq!(e.to_string(), "end of file");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfFile;

impl fmt::Display for EndOfFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("end of file")
    }
}

impl Error for EndOfFile {}

/// A line longer than the channel's limit
/// ([`set_max_line_length`](super::InputChannel::set_max_line_length), 1 MiB by default): the
/// rejection of [`read_line`](super::InputChannel::read_line) instead of unbounded memory. The
/// bytes of the line stay in the channel, unread.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, oc) = io::pipe().unwrap();
/// ic.set_max_line_length(4);
/// main::run(oc.write_line("far too long").bind(move |()| oc.flush())).unwrap();
/// let e = main::run(ic.read_line()).unwrap_err();
/// assert_eq!(e.downcast_ref::<io::LineTooLong>(), Some(&io::LineTooLong { limit: 4 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit that was exceeded, in bytes (the line terminator not included).
    pub limit: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line longer than the limit of {} bytes (InputChannel::set_max_line_length raises it)",
            self.limit
        )
    }
}

impl Error for LineTooLong {}

/// An operation on a channel that was closed (Lwt's `Channel_closed`); the field says which
/// kind of channel, `"input"` or `"output"`.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, _oc) = io::pipe().unwrap();
/// main::run(ic.close()).unwrap();
/// let e = main::run(ic.read_line()).unwrap_err();
/// assert_eq!(e.downcast_ref::<io::ChannelClosed>(), Some(&io::ChannelClosed("input")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelClosed(pub &'static str);

impl fmt::Display for ChannelClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation on a closed {} channel", self.0)
    }
}

impl Error for ChannelClosed {}
