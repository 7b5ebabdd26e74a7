//! Binary numbers on channels: Lwt_io's `read_int16` ... `write_float64`, with its `LE` and `BE`
//! modules as a [`ByteOrder`].
//!
//! See [`ByteOrder`] for how Lwt_io's names map to these.

use super::input::InputChannel;
use super::output::OutputChannel;
use crate::promise::Promise;

/// The order of a binary number's bytes (Lwt_io's `BE` and `LE` modules).
///
/// Lwt_io has one function per width (`read_int`, `read_int16`, `read_int32`, `read_int64`,
/// `read_float32`, `read_float64`, and the `write_` ones), three times over: in the machine's
/// byte order at the top level, and in `Lwt_io.LE` and `Lwt_io.BE`. Here one generic method per
/// byte order covers every fixed-width Rust number, named as the standard library names its
/// conversions (`from_be_bytes`, `to_le_bytes`...):
///
/// | Lwt_io | here |
/// |---|---|
/// | `BE.read_int32 ic`, `LE.read_int64 ic` | `ic.read_be::<i32>()`, `ic.read_le::<i64>()` |
/// | `read_int16 ic` (machine order) | `ic.read_ne::<i16>()` |
/// | `read_int ic` (32 bits, into an OCaml `int`) | `ic.read_ne::<i32>()` |
/// | `BE.read_float64 ic` | `ic.read_be::<f64>()` |
/// | `BE.write_int32 oc n` | `oc.write_be(n)` |
///
/// A read takes exactly the number's width, as [`InputChannel::read_exactly`] does: if the input
/// ends first, it is rejected with [`EndOfFile`](super::EndOfFile) and the bytes that were there
/// stay in the channel. A write is a [`write`](OutputChannel::write) of the bytes.
///
/// ```
/// use lwt_core::{io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// let oc2 = oc.clone();
/// main::run(oc.write_be(0x0102_0304u32).bind(move |()| oc2.write_le(-2i16))).unwrap();
/// main::run(oc.flush()).unwrap();
/// assert_eq!(main::run(ic.read_exactly(4)).unwrap(), [1, 2, 3, 4]);
/// assert_eq!(main::run(ic.read_le::<i16>()).unwrap(), -2);
/// ```
///
/// ```
/// use lwt_core::io::ByteOrder;
/// assert_eq!(ByteOrder::NATIVE, if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first (network order; Lwt_io's `BE`).
    Big,
    /// Least significant byte first (Lwt_io's `LE`).
    Little,
}

impl ByteOrder {
    /// The machine's byte order (Lwt_io's top-level number functions use it).
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
}

mod sealed {
    use super::ByteOrder;

    /// The conversions behind [`Number`](super::Number), out of users' reach.
    pub trait Bytes: Sized {
        fn from_bytes(order: ByteOrder, bytes: &[u8]) -> Self;
        fn to_bytes(self, order: ByteOrder) -> Vec<u8>;
    }
}

/// A fixed-width number that channels read and write in binary: every integer type from `u8`
/// to `i128`, `f32` and `f64` (sealed: `usize` and `isize` are left out, their width depends on
/// the machine).
///
/// ```
/// use lwt_core::io::Number;
/// assert_eq!(<u16 as Number>::WIDTH, 2);
/// assert_eq!(<f64 as Number>::WIDTH, 8);
/// ```
pub trait Number: sealed::Bytes + Copy + 'static {
    /// Its width in bytes.
    const WIDTH: usize;
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl sealed::Bytes for $t {
            fn from_bytes(order: ByteOrder, bytes: &[u8]) -> $t {
                // `read_exactly` gave exactly WIDTH bytes.
                let array = bytes.try_into().expect("read_exactly returns the count asked for");
                match order {
                    ByteOrder::Big => <$t>::from_be_bytes(array),
                    ByteOrder::Little => <$t>::from_le_bytes(array),
                }
            }

            fn to_bytes(self, order: ByteOrder) -> Vec<u8> {
                match order {
                    ByteOrder::Big => self.to_be_bytes().to_vec(),
                    ByteOrder::Little => self.to_le_bytes().to_vec(),
                }
            }
        }

        impl Number for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
        }
    )*};
}

numbers!(u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, f32, f64);

impl InputChannel {
    /// Reads a binary number in `order` (Lwt_io's `read_int32` and the others; see
    /// [`ByteOrder`]). If the input ends first: [`EndOfFile`](super::EndOfFile), and the
    /// bytes that were there stay in the channel. A number cut by the end of the buffer keeps
    /// its first bytes there and reads only the rest of the buffer, as Lwt's does, so the
    /// channel then holds no more than its buffer size (which decides whether a later
    /// [`set_position`](InputChannel::set_position) forward stays in the buffer or seeks).
    ///
    /// ```
    /// use lwt_core::{io::{self, ByteOrder}, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write([0, 0, 1, 0, 7]).bind(move |()| oc.close())).unwrap();
    /// assert_eq!(main::run(ic.read_number::<u32>(ByteOrder::Big)).unwrap(), 256);
    /// assert!(main::run(ic.read_number::<u16>(ByteOrder::Big)).unwrap_err().is::<io::EndOfFile>());
    /// assert_eq!(main::run(ic.read_byte()).unwrap(), 7); // not lost
    /// ```
    pub fn read_number<T: Number>(&self, order: ByteOrder) -> Promise<T> {
        self.read_block(T::WIDTH)
            .map(move |bytes| T::from_bytes(order, &bytes))
    }

    /// [`read_number`](InputChannel::read_number) in big-endian order (Lwt_io's `BE` module).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write([0x3f, 0xf0, 0, 0, 0, 0, 0, 0]).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_be::<f64>()).unwrap(), 1.0);
    /// ```
    pub fn read_be<T: Number>(&self) -> Promise<T> {
        self.read_number(ByteOrder::Big)
    }

    /// [`read_number`](InputChannel::read_number) in little-endian order (Lwt_io's `LE`
    /// module).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write([0xfe, 0xff]).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_le::<i16>()).unwrap(), -2);
    /// ```
    pub fn read_le<T: Number>(&self) -> Promise<T> {
        self.read_number(ByteOrder::Little)
    }

    /// [`read_number`](InputChannel::read_number) in the machine's order (Lwt_io's top-level
    /// `read_int16` and the others).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write(12345u32.to_ne_bytes()).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_ne::<u32>()).unwrap(), 12345);
    /// ```
    pub fn read_ne<T: Number>(&self) -> Promise<T> {
        self.read_number(ByteOrder::NATIVE)
    }
}

impl OutputChannel {
    /// Writes a binary number in `order` (Lwt_io's `write_int32` and the others; see
    /// [`ByteOrder`]).
    ///
    /// ```
    /// use lwt_core::{io::{self, ByteOrder}, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_number(513u16, ByteOrder::Little).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_exactly(2)).unwrap(), [1, 2]);
    /// ```
    pub fn write_number<T: Number>(&self, n: T, order: ByteOrder) -> Promise<()> {
        self.write(n.to_bytes(order))
    }

    /// [`write_number`](OutputChannel::write_number) in big-endian order (Lwt_io's `BE`
    /// module).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_be(1u16).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_exactly(2)).unwrap(), [0, 1]);
    /// ```
    pub fn write_be<T: Number>(&self, n: T) -> Promise<()> {
        self.write_number(n, ByteOrder::Big)
    }

    /// [`write_number`](OutputChannel::write_number) in little-endian order (Lwt_io's `LE`
    /// module).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_le(1u16).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_exactly(2)).unwrap(), [1, 0]);
    /// ```
    pub fn write_le<T: Number>(&self, n: T) -> Promise<()> {
        self.write_number(n, ByteOrder::Little)
    }

    /// [`write_number`](OutputChannel::write_number) in the machine's order (Lwt_io's
    /// top-level `write_int16` and the others).
    ///
    /// ```
    /// use lwt_core::{io, main};
    /// let (ic, oc) = io::pipe().unwrap();
    /// main::run(oc.write_ne(-1.5f32).bind(move |()| oc.flush())).unwrap();
    /// assert_eq!(main::run(ic.read_exactly(4)).unwrap(), (-1.5f32).to_ne_bytes());
    /// ```
    pub fn write_ne<T: Number>(&self, n: T) -> Promise<()> {
        self.write_number(n, ByteOrder::NATIVE)
    }
}
