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

/// Bytes that are not UTF-8, met by [`read_char`](super::InputChannel::read_char) (and
/// [`read_char_opt`](super::InputChannel::read_char_opt), [`read_chars`](super::read_chars),
/// [`chars_of_file`](super::chars_of_file)). The bytes are consumed, and kept here.
///
/// It tells an invalid sequence, which no later byte could mend (`"invalid UTF-8 sequence:
/// 0xc3"` for `c3 28`, whose `28` stays in the channel), from one the end of input cut short
/// (`"UTF-8 sequence truncated by the end of input: 0xe2 0x82"`). A
/// [`FromUtf8Error`](std::string::FromUtf8Error) of the consumed bytes alone could not: it
/// called a lead byte followed by a plain one "incomplete", as if more input would help.
///
/// ```
/// use lwt_core::{io, main};
///
/// let (ic, oc) = io::pipe().unwrap();
/// main::run(oc.write([0xc3, b'(', 0xe2, 0x82]).bind(move |()| oc.close())).unwrap();
/// let e = main::run(ic.read_char()).unwrap_err();
/// let bad = e.downcast_ref::<io::InvalidUtf8>().unwrap();
/// assert_eq!((bad.as_bytes(), bad.is_truncated()), (&[0xc3][..], false));
/// assert_eq!(e.to_string(), "invalid UTF-8 sequence: 0xc3");
/// assert_eq!(main::run(ic.read_char()).unwrap(), '(');
/// let e = main::run(ic.read_char()).unwrap_err();
/// assert_eq!(e.to_string(), "UTF-8 sequence truncated by the end of input: 0xe2 0x82");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUtf8 {
    bytes: Vec<u8>,
    truncated: bool,
}

impl InvalidUtf8 {
    pub(crate) fn new(bytes: Vec<u8>, truncated: bool) -> InvalidUtf8 {
        InvalidUtf8 { bytes, truncated }
    }

    /// The bytes consumed: a byte that cannot start a character, or the start of a sequence
    /// that went wrong or was cut short.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes consumed, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Was the sequence valid as far as it went, cut short by the end of input?
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.truncated {
            f.write_str("UTF-8 sequence truncated by the end of input:")?;
        } else {
            f.write_str("invalid UTF-8 sequence:")?;
        }
        for b in &self.bytes {
            write!(f, " {b:#04x}")?;
        }
        Ok(())
    }
}

impl Error for InvalidUtf8 {}

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
