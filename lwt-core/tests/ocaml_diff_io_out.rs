//! Output channels against real OCaml Lwt 5.6.1's `Lwt_io`: random sequences of output
//! operations on an output channel over a pipe or (half the cases) a fresh regular file, with
//! buffer sizes from Lwt's smallest (16) to 4096: `write` (random ASCII with `\n`s, sometimes
//! longer than the buffer), `write_char`, `write_line`, the binary numbers `write_be::<i16>`,
//! `write_le::<i32>` and `write_be::<i64>` (Lwt's `BE.write_int16`, `LE.write_int32`,
//! `BE.write_int64`), `flush`, `set_position`, `length`, `close`, `abort`, and "idle": running the
//! loop until the automatic flush has written the buffer out. Each operation runs once the one
//! before it resolved, and after each, both sides must agree on its result (or its error:
//! `ChannelClosed` or a system error, as on a pipe's `set_position` and `length`), on
//! `position`, and (where both are defined: below) on `buffered` and on the bytes that have
//! reached the pipe or the file so far: so when the buffer is written out (not on a write that
//! fits, even one that fills it exactly; on `flush`, `set_position` and `close`; at the next
//! iteration of the loop), and what. The final contents of the pipe or file, after the channel
//! is closed, must agree too. The OCaml side is `tests/ocaml/lwt_diff_io_out.ml`.
//!
//! Not compared, because the crate differs there on purpose (the `io` module docs, and
//! `a_write_that_overflows_the_buffer_writes_whole_buffers_in_lwt` below): a write that does
//! not fit in the buffer writes the buffer and itself out here at once; Lwt fills the buffer,
//! writes it, and again, and keeps the rest (1 to the buffer's size bytes; for a number, the
//! whole number) buffered until the next flush. So from such a write until both sides have
//! written everything out (`flush`, `set_position`, `close`, idle), what has reached the
//! descriptor, `buffered` and a file's `length` are not compared (results and `position` are),
//! and nor are the final contents of a case that aborts the channel meanwhile (the two sides
//! held different bytes when the abort dropped them).
//!
//! A pipe's reader may also go away (`Op::Deafen`, one operation in a hundred), so that writing
//! out fails with `EPIPE` (`BrokenPipe` here; SIGPIPE is ignored on both sides). Everything up
//! to the first operation that then fails (a flush, a write that does not fit, `set_position`,
//! an automatic flush that leaves `y` stuck, the final close) must agree, and that operation
//! must fail on both sides; what follows is not compared, because the two differ there on
//! purpose (`cut_after_broken_pipe`): Lwt drops an automatic flush's error, buffers later writes
//! and succeeds in closing, where this crate keeps the error, rejects what follows with it and
//! rejects the close, so that no unwritten byte is dropped silently.
//!
//! `OCAML_DIFF_IO_OUT_CASES` (default 1500: Lwt writes a file on its thread pool, which makes
//! its side the slow one) and `OCAML_DIFF_IO_OUT_SEED` (default 1) set the run; a differing case
//! is shrunk (an operation at a time is removed while it still differs) and reported. It prints
//! a skip message and passes when `ocamlfind` or `lwt.unix` is missing.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use fuzz::{env, Rng};
use lwt_core::io::{self, ChannelClosed, OutputChannel};
use lwt_core::{main, unix, Exn, Promise};

/// An operation on the output channel (the interpreter's letter for it in brackets).
#[derive(Clone, Debug)]
enum Op {
    /// `write` (`w`).
    Write(Vec<u8>),
    /// `write_char` of an ASCII byte (`h`).
    Char(u8),
    /// `write_line` (`l`).
    Line(Vec<u8>),
    /// `write_be::<i16>`, Lwt's `BE.write_int16` (`b`).
    BeI16(i16),
    /// `write_le::<i32>`, Lwt's `LE.write_int32` (`i`).
    LeI32(i32),
    /// `write_be::<i64>`, Lwt's `BE.write_int64` (`q`).
    BeI64(i64),
    /// `flush` (`f`).
    Flush,
    /// Turns of the loop until the automatic flush has written the buffer out (`y`).
    Idle,
    /// `set_position` (`s`).
    SetPosition(u64),
    /// `length` (`n`).
    Length,
    /// `close` (`x`).
    Close,
    /// `abort` (`a`).
    Abort,
    /// Closes the pipe's reading end, after reading what it holds, so that later writes fail
    /// with `BrokenPipe` (`c`; nothing on a file).
    Deafen,
}

impl Op {
    /// How many bytes the operation writes to the channel, if it is a write.
    fn written(&self) -> Option<usize> {
        match self {
            Op::Write(d) => Some(d.len()),
            Op::Char(_) => Some(1),
            Op::Line(d) => Some(d.len() + 1),
            Op::BeI16(_) => Some(2),
            Op::LeI32(_) => Some(4),
            Op::BeI64(_) => Some(8),
            _ => None,
        }
    }
}

/// A case: where the channel writes, its buffer size, and what is done with it.
#[derive(Clone, Debug)]
struct Case {
    /// A regular file instead of a pipe.
    file: bool,
    /// The channel's buffer size.
    buffer: usize,
    /// The operations, run one after the other.
    ops: Vec<Op>,
}

/// `bytes` in hex, as the interpreter reads and writes them.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random ASCII text, with `\n`s: short, or one time in six from half to twice the buffer's size.
fn text(rng: &mut Rng, buffer: usize) -> Vec<u8> {
    const BYTES: &[u8] = b"ab\n xyz.Q\n";
    let len = if rng.below(6) == 0 {
        buffer / 2 + rng.below(buffer as u64 * 3 / 2 + 6) as usize
    } else {
        rng.below(12) as usize
    };
    (0..len)
        .map(|_| BYTES[rng.below(BYTES.len() as u64) as usize])
        .collect()
}

/// A random case: mostly writes, some of them longer than the buffer, with flushes, turns of the
/// loop, `set_position`s and `length`s among them, and now and then a `close` or an `abort` (the
/// operations after it are refused on both sides).
fn generate(rng: &mut Rng) -> Case {
    const SIZES: [usize; 7] = [16, 17, 20, 32, 64, 100, 4096];
    let buffer = SIZES[rng.below(SIZES.len() as u64) as usize];
    let ops = (0..1 + rng.below(14))
        .map(|_| match rng.below(100) {
            0..=29 => Op::Write(text(rng, buffer)),
            30..=39 => Op::Char(b"a\nz"[rng.below(3) as usize]),
            40..=51 => Op::Line(text(rng, buffer)),
            52..=54 => Op::BeI16(rng.next() as i16),
            55..=57 => Op::LeI32(rng.next() as i32),
            58..=60 => Op::BeI64(rng.next() as i64),
            61..=69 => Op::Flush,
            70..=80 => Op::Idle,
            81..=86 => Op::SetPosition(rng.below(64)),
            87..=93 => Op::Length,
            94..=96 => Op::Close,
            97 => Op::Abort,
            _ => Op::Deafen,
        })
        .collect();
    Case {
        file: rng.below(2) == 0,
        buffer,
        ops,
    }
}

/// Written data in the interpreter's format: hex, `-` when empty.
fn data(d: &[u8]) -> String {
    if d.is_empty() {
        "-".into()
    } else {
        hex(d)
    }
}

/// The case as a line of the interpreter's input.
fn case_line(c: &Case) -> String {
    let ops: Vec<String> = c
        .ops
        .iter()
        .map(|op| match op {
            Op::Write(d) => format!("w{}", data(d)),
            Op::Char(b) => format!("h{b:02x}"),
            Op::Line(d) => format!("l{}", data(d)),
            Op::BeI16(n) => format!("b{n}"),
            Op::LeI32(n) => format!("i{n}"),
            Op::BeI64(n) => format!("q{n}"),
            Op::Flush => "f".into(),
            Op::Idle => "y".into(),
            Op::SetPosition(n) => format!("s{n}"),
            Op::Length => "n".into(),
            Op::Close => "x".into(),
            Op::Abort => "a".into(),
            Op::Deafen => "c".into(),
        })
        .collect();
    let f = if c.file { "f" } else { "" };
    format!("{f}{} {}", c.buffer, ops.join(" "))
}

/// The interpreter's hash of the visible bytes.
fn hash(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |h, &b| (h * 257 + b as u64 + 1) % 2_147_483_647)
}

/// `ok`, or the kind of the rejection.
fn outcome<T: 'static>(p: Promise<T>, ok: impl Fn(T) -> String) -> String {
    match main::run(p) {
        Ok(v) => ok(v),
        Err(e) if e.is::<ChannelClosed>() => "closed".into(),
        Err(e) if e.is::<std::io::Error>() => "error".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// Turns the loop until the automatic flush has written the buffer out (or the channel is
/// closed), as the interpreter's `y` does; "stuck" after 1000 turns.
fn idle(oc: OutputChannel, turns: u32) -> Promise<String> {
    if oc.buffered() == 0 || oc.is_closed() {
        return Promise::ret("ok".into());
    }
    if turns == 1000 {
        return Promise::ret("stuck".into());
    }
    main::pause().bind(move |()| idle(oc, turns + 1))
}

/// Where the bytes that reached the descriptor can be seen.
enum Sink {
    /// The pipe's reading end (non-blocking; `None` once closed), and everything read from it
    /// so far.
    Pipe(Option<mio::unix::pipe::Receiver>, Vec<u8>),
    /// The file's path: it is read whole each time (a `set_position` may have written over it).
    File(PathBuf),
}

impl Sink {
    /// Every byte that has reached the pipe so far, or the file's contents.
    fn visible(&mut self) -> Vec<u8> {
        match self {
            Sink::Pipe(None, seen) => seen.clone(),
            Sink::Pipe(Some(r), seen) => {
                let mut buf = [0; 65536];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("reading the pipe: {e}"),
                    }
                }
                seen.clone()
            }
            Sink::File(path) => std::fs::read(path).unwrap(),
        }
    }

    /// Closes the pipe's reading end, after reading what it holds (nothing on a file).
    fn deafen(&mut self) {
        self.visible();
        if let Sink::Pipe(r, _) = self {
            drop(r.take());
        }
    }
}

/// A channel operation that does not complete at once, so that the next ones do not run into
/// the crate's limit on operations in a row that complete at once (`io` module docs: the 129th
/// waits for the next turn of the loop, which runs the automatic flush first; a per-thread
/// count that Lwt does not have, and that would strike at random points of the run).
fn reset_streak() {
    let (ic, _oc) = io::pipe().unwrap();
    let waiting = ic.read_char();
    assert!(waiting.is_pending());
    waiting.cancel();
    main::run(ic.close()).unwrap();
}

/// One line per operation, in the interpreter's format, then `end` and the final contents; with
/// each line, whether its state (`buffered`, the visible bytes, a `length`) is comparable: it is
/// not from a write that did not fit in the buffer until everything has been written out.
fn run_crate(c: &Case, dir: &Path) -> Vec<(String, bool)> {
    reset_streak();
    let path = dir.join(format!("lwt-diff-io-out-{}", std::process::id()));
    let (fd, mut sink) = if c.file {
        let file = std::fs::File::create(&path).unwrap();
        (
            unix::Fd::from_owned(file.into()).unwrap(),
            Sink::File(path.clone()),
        )
    } else {
        let (w, r) = mio::unix::pipe::new().unwrap();
        (
            unix::Fd::from_owned(w.into()).unwrap(),
            Sink::Pipe(Some(r), Vec::new()),
        )
    };
    let oc = OutputChannel::with_buffer_size(fd, c.buffer);
    let mut in_step = true;
    // The pipe's reader left while the two sides held different bytes: what reached the pipe
    // differs for good.
    let mut deaf_out_of_step = false;
    let mut out = Vec::new();
    for op in &c.ops {
        let was_closed = oc.is_closed();
        if let Some(n) = op.written() {
            if !was_closed && oc.buffered() + n > c.buffer {
                // Written out here, in whole buffers with some left buffered in Lwt.
                in_step = false;
            }
        }
        let ok = |()| "ok".to_string();
        let (tag, result) = match op {
            Op::Write(d) => ('w', outcome(oc.write(d), ok)),
            Op::Char(b) => ('h', outcome(oc.write_char(*b as char), ok)),
            Op::Line(d) => ('l', outcome(oc.write_line(d), ok)),
            Op::BeI16(n) => ('b', outcome(oc.write_be(*n), ok)),
            Op::LeI32(n) => ('i', outcome(oc.write_le(*n), ok)),
            Op::BeI64(n) => ('q', outcome(oc.write_be(*n), ok)),
            Op::Flush => ('f', outcome(oc.flush(), ok)),
            Op::Idle => ('y', main::run(idle(oc.clone(), 0)).unwrap()),
            Op::SetPosition(n) => ('s', outcome(oc.set_position(*n), ok)),
            Op::Length => ('n', outcome(oc.length(), |n| n.to_string())),
            Op::Close => ('x', outcome(oc.close(), ok)),
            Op::Abort => ('a', outcome(oc.abort(), ok)),
            Op::Deafen => {
                deaf_out_of_step |= !in_step && !c.file;
                sink.deafen();
                ('c', "ok".into())
            }
        };
        if !was_closed && matches!(op, Op::Flush | Op::Idle | Op::SetPosition(_) | Op::Close) {
            // Everything has been written out, on both sides (a set_position flushes before it
            // seeks, even on a pipe, where the seek fails). After an abort, nothing ever is.
            in_step = true;
        }
        let v = sink.visible();
        out.push((
            format!(
                "{tag} {result} {} {} {} {}",
                oc.position(),
                oc.buffered(),
                v.len(),
                hash(&v)
            ),
            in_step,
        ));
    }
    // The last close writes everything out on both sides, unless the channel was aborted.
    let in_step = (in_step || !oc.is_closed()) && !deaf_out_of_step;
    let _: Result<(), Exn> = main::run(oc.close());
    let v = sink.visible();
    out.push((format!("end {}", hex(&v)), in_step));
    if c.file {
        std::fs::remove_file(&path).unwrap();
    }
    out
}

/// The fields of a line that are compared: all of them in step; otherwise the tag, the result
/// (but a `length`'s) and the position.
fn compared(line: &str, in_step: bool) -> String {
    if in_step {
        return line.to_string();
    }
    let f: Vec<&str> = line.split(' ').collect();
    match f[..] {
        ["end", _] => "end ~".into(),
        ["n", _, pos, ..] => format!("n ~ {pos} ~"),
        [tag, result, pos, ..] => format!("{tag} {result} {pos} ~"),
        _ => line.to_string(),
    }
}

/// Our lines and Lwt's, each cut to what is compared (a line Lwt did not print is "(missing)").
fn compare(ours: &[(String, bool)], theirs: &[&str]) -> (Vec<String>, Vec<String>) {
    let a = ours.iter().map(|(l, s)| compared(l, *s)).collect();
    let b = ours
        .iter()
        .zip(theirs.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|((_, s), t)| t.map_or("(missing)".into(), |t| compared(t, *s)))
        .collect();
    (a, b)
}

/// Cuts both sides after the first operation that fails because the pipe's reader is gone
/// (`Op::Deafen`): "error", or "stuck" from an automatic flush that failed. From there the two
/// differ on purpose (the `OutputChannel` docs): here the channel keeps the error and rejects
/// every later operation with it, and `close` reports an error that only the automatic flush
/// saw; Lwt drops an automatic flush's error, accepts later writes into the buffer, fails each
/// later flush again, and its `close` succeeds. Returns how many lines were cut from ours.
fn cut_after_broken_pipe(
    c: &Case,
    ours: &mut Vec<(String, bool)>,
    theirs: &mut Vec<&str>,
) -> usize {
    if c.file {
        return 0;
    }
    let Some(deaf) = c.ops.iter().position(|op| matches!(op, Op::Deafen)) else {
        return 0;
    };
    let failed = |line: &str| {
        let result = line.split(' ').nth(1);
        matches!(result, Some("error" | "stuck"))
    };
    if !ours[deaf].1 {
        // The reader left while the two sides held different bytes (after a write that
        // overflowed the buffer, Lwt keeps part of it buffered): one side has bytes left to
        // fail on, the other not. Nothing after it is compared.
        let cut = ours.len() - deaf - 1;
        ours.truncate(deaf + 1);
        theirs.truncate(deaf + 1);
        return cut;
    }
    let first = (deaf + 1..ours.len())
        .find(|&i| failed(&ours[i].0) || theirs.get(i).is_some_and(|t| failed(t)));
    match first {
        Some(k) => {
            let cut = ours.len() - k - 1;
            ours.truncate(k + 1);
            theirs.truncate(k + 1);
            // Of the failing operation itself, the tag and the result: a write that does not
            // fit fails after Lwt buffered part of it (its position counts that part), where
            // here the failed write's bytes all stay in the channel (position and `buffered`
            // count them all).
            let two = |line: &str| line.split(' ').take(2).collect::<Vec<_>>().join(" ");
            ours[k] = (two(&ours[k].0), true);
            if let Some(t) = theirs.get_mut(k) {
                *t = t.rsplitn(5, ' ').last().unwrap_or(t);
            }
            if ours[k].0.starts_with("x ") {
                // A close whose final flush fails: rejected here, so that the unwritten bytes
                // are not dropped silently; Lwt's close drops the flush's error and succeeds.
                assert_eq!(
                    ours[k].0, "x error",
                    "a close that could not write succeeded"
                );
                ours[k].0 = "x".into();
                if let Some(t) = theirs.get_mut(k) {
                    *t = "x";
                }
            }
            cut
        }
        None => 0,
    }
}

/// Runs `c` on both sides: (ours, Lwt's), cut to what is compared.
fn both(exe: &Path, c: &Case, dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut ours = run_crate(c, dir);
    let out = ocaml::run(exe, case_line(c) + "\n").unwrap_or_else(|f| panic!("{f}"));
    let mut theirs: Vec<&str> = out.lines().collect();
    cut_after_broken_pipe(c, &mut ours, &mut theirs);
    compare(&ours, &theirs)
}

/// The random cases, all run by one interpreter process, then here one by one.
#[test]
fn output_channels_agree_with_ocaml_lwt_io() {
    let Some(exe) = ocaml::interpreter("lwt_diff_io_out", "lwt.unix") else {
        eprintln!(
            "ocaml_diff_io_out: SKIPPED: `ocamlfind query lwt.unix` failed (OCaml and Lwt are \
             needed)"
        );
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cases = env("OCAML_DIFF_IO_OUT_CASES", 1500);
    let seed = env("OCAML_DIFF_IO_OUT_SEED", 1);
    let all: Vec<Case> = (0..cases)
        .map(|i| generate(&mut Rng::for_case(seed, i)))
        .collect();
    let input: String = all.iter().map(|c| case_line(c) + "\n").collect();
    let out = ocaml::run(&exe, input).unwrap_or_else(|f| panic!("the interpreter failed: {f}"));
    let mut lwt = out.lines();
    let (mut results, mut states, mut finals) = (0, 0, 0);
    let (mut broken, mut after_broken) = (0, 0);
    for (i, c) in all.iter().enumerate() {
        let mut ours = run_crate(c, dir);
        let mut theirs: Vec<&str> = lwt.by_ref().take(ours.len()).collect();
        let cut = cut_after_broken_pipe(c, &mut ours, &mut theirs);
        broken += usize::from(ours.len() < c.ops.len() + 1);
        after_broken += cut;
        let (a, b) = compare(&ours, &theirs);
        if a != b {
            let small = ocaml::shrink(c.ops.clone(), |ops| {
                let c = Case {
                    ops: ops.to_vec(),
                    ..c.clone()
                };
                let (a, b) = both(&exe, &c, dir);
                a != b
            });
            let small = Case {
                ops: small,
                ..c.clone()
            };
            let (sa, sb) = both(&exe, &small, dir);
            panic!(
                "case {i} (seed {seed}) differs: `{}`\n  lwt-core: {a:?}\n  Lwt:      {b:?}\n\n\
                 shrunk to `{}`:\n  lwt-core: {sa:?}\n  Lwt:      {sb:?}",
                case_line(c),
                case_line(&small)
            );
        }
        if ours.len() == c.ops.len() + 1 {
            results += ours.len() - 1;
            states += ours[..ours.len() - 1].iter().filter(|(_, s)| *s).count();
            finals += usize::from(ours[ours.len() - 1].1);
        } else {
            // Cut after a broken pipe: no final contents compared.
            results += ours.len();
            states += ours.iter().filter(|(_, s)| *s).count();
        }
    }
    eprintln!(
        "ocaml_diff_io_out: {cases} cases (seed {seed}): {results} operations agree with Lwt_io \
         on their result and position, {states} of them on buffered and the visible bytes too \
         ({} from a write that overflowed the buffer to the next flush not compared), {finals} \
         final contents agree ({} cases aborted out of step or cut not compared); {broken} \
         cases agree up to their first failure on a pipe without a reader ({after_broken} \
         operations and final contents after it not compared)",
        results - states,
        cases as usize - finals
    );
}

/// The deliberate difference the comparison leaves out, as Lwt 5.6.1 has it (checked with the
/// interpreter when it is there): with a 16-byte buffer, a 20-byte write writes 16 bytes and keeps
/// 4 buffered; 11 more bytes fit with them; a 2-byte number that does not fit writes the 15
/// buffered bytes and stays buffered; the abort drops it. Here the 20 bytes are written at once,
/// the 11 and the number stay buffered (13 bytes) and the abort drops them. Fails here: run with
/// `--ignored` to see the difference.
#[test]
#[ignore = "differs from Lwt on purpose: a write that does not fit in the buffer is written out whole"]
fn a_write_that_overflows_the_buffer_writes_whole_buffers_in_lwt() {
    let case = Case {
        file: false,
        buffer: 16,
        ops: vec![
            Op::Write(b"0123456789abcdefghij".to_vec()),
            Op::Write(b"klmnopqrstu".to_vec()),
            Op::BeI16(1),
            Op::Abort,
        ],
    };
    let lwt = [
        "w ok 20 4 16 2030527067",
        "w ok 31 15 16 2030527067",
        "b ok 33 2 31 1530604417",
        "a ok 33 2 31 1530604417",
        "end 303132333435363738396162636465666768696a6b6c6d6e6f707172737475",
    ];
    if let Some(exe) = ocaml::interpreter("lwt_diff_io_out", "lwt.unix") {
        let out = ocaml::run(&exe, case_line(&case) + "\n").unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(out.lines().collect::<Vec<_>>(), lwt);
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let ours: Vec<String> = run_crate(&case, dir).into_iter().map(|(l, _)| l).collect();
    assert_eq!(ours, lwt);
}
