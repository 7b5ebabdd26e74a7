//! The binary number primitives of `io` (`read_be`, `write_le`, `read_number`...): round trips
//! of every [`Number`] type in every byte order, the end of input in the middle of a number, and
//! a comparison with real OCaml Lwt 5.6.1's `Lwt_io` (`tests/ocaml/lwt_io_numbers.ml`): random
//! values of each of Lwt's kinds (`int16`, `int`, `int32`, `int64`, `float32`, `float64`) in each
//! order (`BE`, `LE`, the machine's) must give the same bytes when written, and the same value
//! when read back from them.
//!
//! `IO_NUMBERS_CASES` (default 3000) and `IO_NUMBERS_SEED` (default 1) set the comparison; it
//! prints a skip message and passes when `ocamlfind` or the `lwt.unix` package is missing.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;

use std::fmt::Debug;

use fuzz::{env, Rng};
use lwt_core::io::{self, ByteOrder, EndOfFile, Number};
use lwt_core::{main, Promise};

fn run<T: 'static>(p: Promise<T>) -> T {
    main::run(p).unwrap()
}

/// Writes `n` in `order` to a pipe: the bytes that came out.
fn bytes_of<T: Number>(n: T, order: ByteOrder) -> Vec<u8> {
    let (ic, oc) = io::pipe().unwrap();
    let oc2 = oc.clone();
    run(oc.write_number(n, order).bind(move |()| oc2.close()));
    run(ic.read_to_end())
}

/// Reads a `T` in `order` from a pipe holding `bytes`.
fn number_of<T: Number>(bytes: &[u8], order: ByteOrder) -> T {
    let (ic, oc) = io::pipe().unwrap();
    let oc2 = oc.clone();
    run(oc.write(bytes).bind(move |()| oc2.close()));
    run(ic.read_number(order))
}

fn round_trip<T: Number + PartialEq + Debug>(values: &[T], be: fn(T) -> Vec<u8>) {
    for &n in values {
        let big = bytes_of(n, ByteOrder::Big);
        assert_eq!(big, be(n), "{n:?} big-endian");
        assert_eq!(big.len(), T::WIDTH);
        let mut little = big.clone();
        little.reverse();
        assert_eq!(
            bytes_of(n, ByteOrder::Little),
            little,
            "{n:?} little-endian"
        );
        assert_eq!(number_of::<T>(&big, ByteOrder::Big), n);
        assert_eq!(number_of::<T>(&little, ByteOrder::Little), n);
        let native = if cfg!(target_endian = "big") {
            &big
        } else {
            &little
        };
        assert_eq!(&bytes_of(n, ByteOrder::NATIVE), native);
    }
}

#[test]
fn every_number_type_round_trips_in_both_orders() {
    round_trip(&[0u8, 1, 0x7f, 0xff], |n| n.to_be_bytes().to_vec());
    round_trip(&[0i8, -1, i8::MIN, i8::MAX], |n| n.to_be_bytes().to_vec());
    round_trip(&[0u16, 0x0102, u16::MAX], |n| n.to_be_bytes().to_vec());
    round_trip(&[0i16, -2, i16::MIN, i16::MAX], |n| {
        n.to_be_bytes().to_vec()
    });
    round_trip(&[0u32, 0x0102_0304, u32::MAX], |n| n.to_be_bytes().to_vec());
    round_trip(&[0i32, -123, i32::MIN, i32::MAX], |n| {
        n.to_be_bytes().to_vec()
    });
    round_trip(&[0u64, 0x0102_0304_0506_0708, u64::MAX], |n| {
        n.to_be_bytes().to_vec()
    });
    round_trip(&[0i64, -1, i64::MIN, i64::MAX], |n| {
        n.to_be_bytes().to_vec()
    });
    round_trip(&[0u128, u128::MAX, 1 << 100], |n| n.to_be_bytes().to_vec());
    round_trip(&[0i128, -1, i128::MIN], |n| n.to_be_bytes().to_vec());
    round_trip(
        &[
            0.0f32,
            -1.5,
            f32::MAX,
            f32::INFINITY,
            f32::MIN_POSITIVE / 2.0,
        ],
        |n| n.to_be_bytes().to_vec(),
    );
    round_trip(&[0.0f64, -0.0, 1.0, f64::MIN, f64::NEG_INFINITY], |n| {
        n.to_be_bytes().to_vec()
    });
    // A NaN keeps its bits.
    let nan = f64::from_bits(0x7ff8_0000_0000_0001);
    let back: f64 = number_of(&bytes_of(nan, ByteOrder::Big), ByteOrder::Big);
    assert_eq!(back.to_bits(), nan.to_bits());
}

#[test]
fn the_shorthands_use_their_order() {
    let (ic, oc) = io::pipe().unwrap();
    let oc2 = oc.clone();
    let writes = oc
        .write_be(0x0102u16)
        .bind({
            let oc = oc.clone();
            move |()| oc.write_le(0x0102u16)
        })
        .bind({
            let oc = oc.clone();
            move |()| oc.write_ne(0x0102u16)
        })
        .bind(move |()| oc2.close());
    run(writes);
    let mut expected = vec![1, 2, 2, 1];
    expected.extend_from_slice(&0x0102u16.to_ne_bytes());
    assert_eq!(run(ic.read_to_end()), expected);

    let (ic, oc) = io::pipe().unwrap();
    let oc2 = oc.clone();
    run(oc.write([1, 2, 1, 2, 1, 2]).bind(move |()| oc2.close()));
    assert_eq!(run(ic.read_be::<u16>()), 0x0102);
    assert_eq!(run(ic.read_le::<u16>()), 0x0201);
    assert_eq!(run(ic.read_ne::<u16>()), u16::from_ne_bytes([1, 2]));
}

#[test]
fn the_end_of_input_inside_a_number_loses_nothing() {
    let (ic, oc) = io::pipe().unwrap();
    let oc2 = oc.clone();
    let pending = ic.read_be::<u32>();
    run(oc.write([0xab, 0xcd, 0xef]).bind(move |()| oc2.close()));
    let e = main::run(pending).unwrap_err();
    assert!(e.is::<EndOfFile>(), "{e:?}");
    assert_eq!(
        run(ic.read_be::<u16>()),
        0xabcd,
        "the bytes stay in the channel"
    );
    assert_eq!(run(ic.read_be::<u8>()), 0xef);
    assert!(main::run(ic.read_be::<u8>()).unwrap_err().is::<EndOfFile>());
}

// ---- against OCaml Lwt ----

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int16,
    /// Lwt's `read_int`/`write_int`: 32 bits, into an OCaml `int`.
    Int,
    Int32,
    Int64,
    Float32,
    Float64,
}

const KINDS: [(Kind, &str); 6] = [
    (Kind::Int16, "int16"),
    (Kind::Int, "int"),
    (Kind::Int32, "int32"),
    (Kind::Int64, "int64"),
    (Kind::Float32, "float32"),
    (Kind::Float64, "float64"),
];

const ORDERS: [(ByteOrder, &str); 3] = [
    (ByteOrder::Big, "be"),
    (ByteOrder::Little, "le"),
    (ByteOrder::NATIVE, "ne"),
];

/// A random 64-bit pattern, often an edge: all zeros or ones, one bit, small numbers.
fn pattern(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => u64::MAX,
        2 => 1 << rng.below(64),
        3 => rng.below(300),
        4 => rng.below(300).wrapping_neg(),
        _ => rng.next(),
    }
}

/// A case's input line and what our channels give for it (`<bytes in hex> <value read back>`).
fn case(rng: &mut Rng) -> (String, String) {
    let (order, order_name) = ORDERS[rng.below(3) as usize];
    let (kind, kind_name) = KINDS[rng.below(6) as usize];
    let bits = pattern(rng);
    fn ours<T: Number>(n: T, order: ByteOrder, show: impl Fn(T) -> String) -> String {
        let bytes = bytes_of(n, order);
        let back: T = number_of(&bytes, order);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex} {}", show(back))
    }
    let (value, expected) = match kind {
        Kind::Int16 => {
            let n = bits as i16;
            (n.to_string(), ours(n, order, |v| v.to_string()))
        }
        Kind::Int | Kind::Int32 => {
            let n = bits as i32;
            (n.to_string(), ours(n, order, |v| v.to_string()))
        }
        Kind::Int64 => {
            let n = bits as i64;
            (n.to_string(), ours(n, order, |v| v.to_string()))
        }
        Kind::Float32 => {
            let mut b = bits as u32;
            if f32::from_bits(b).is_nan() {
                b = 0x7f80_0000; // OCaml carries a float32 in a double: a NaN may change bits
            }
            let f = f32::from_bits(b);
            (
                format!("0x{b:x}"),
                ours(f, order, |v| format!("{:x}", v.to_bits())),
            )
        }
        Kind::Float64 => {
            let f = f64::from_bits(bits);
            (
                format!("0x{bits:x}"),
                ours(f, order, |v| format!("{:x}", v.to_bits())),
            )
        }
    };
    (format!("{order_name} {kind_name} {value}"), expected)
}

#[test]
fn numbers_agree_with_ocaml_lwt_io() {
    let Some(exe) = ocaml::interpreter("lwt_io_numbers", "lwt.unix") else {
        eprintln!(
            "io_numbers: SKIPPED: `ocamlfind query lwt.unix` failed (OCaml and Lwt are needed)"
        );
        return;
    };
    let cases = env("IO_NUMBERS_CASES", 3000);
    let seed = env("IO_NUMBERS_SEED", 1);
    let mut rng = Rng::for_case(seed, 0);
    let (lines, expected): (Vec<String>, Vec<String>) = (0..cases).map(|_| case(&mut rng)).unzip();
    let mut input = lines.join("\n");
    input.push('\n');
    let out = ocaml::run(&exe, input).unwrap_or_else(|f| panic!("the interpreter failed: {f}"));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), lines.len(), "one answer per line");
    for ((line, ours), lwt) in lines.iter().zip(&expected).zip(got) {
        assert_eq!(
            ours, lwt,
            "`{line}`: ours (left) and Lwt_io's (right) differ"
        );
    }
    eprintln!("io_numbers: {cases} cases (seed {seed}) agree with OCaml Lwt_io");
}

/// A number that straddles the end of the buffer refills only the rest of the buffer, as Lwt
/// 5.6.1's does: its `read_block_unsafe` keeps the bytes it found and asks the descriptor for
/// `buffer size - unread` bytes, so the channel never holds more than its buffer size. With a
/// 16-byte buffer over a pipe holding 32 bytes, after 14 bytes and an `int32` Lwt has read 30
/// bytes of the pipe: position 18, 12 buffered, and a `set_position 31` is past what it holds,
/// so it seeks the pipe and fails (`Illegal seek`); the read after it gets bytes 18 to 31.
/// (The differential test `ocaml_diff_io` found this: a `set_position` forward on a pipe that
/// succeeded here and failed in Lwt.)
#[test]
fn a_number_across_the_buffer_end_fills_only_the_buffer_as_lwt_does() {
    let (r, w) = lwt_core::unix::pipe().unwrap();
    let data: Vec<u8> = (b'A'..b'A' + 32).collect();
    run(w.write_all(data.clone()));
    w.close().unwrap();
    let ic = io::InputChannel::with_buffer_size(r, 16);
    assert_eq!(run(ic.read_exactly(14)), &data[..14]);
    assert_eq!((ic.position(), ic.buffered()), (14, 2));
    assert_eq!(run(ic.read_le::<i32>()), i32::from_le_bytes(*b"OPQR"));
    assert_eq!((ic.position(), ic.buffered()), (18, 12), "Lwt: 18 and 12");
    let e = main::run(ic.set_position(31)).unwrap_err();
    assert!(
        e.is::<std::io::Error>(),
        "a seek of the pipe, as Lwt's: {e:?}"
    );
    assert_eq!(run(ic.read_to_end()), &data[18..]);
}
