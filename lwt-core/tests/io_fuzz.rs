//! Randomized programs over the buffered channels of `io` (a pipe, a socket pair, a TCP
//! connection to an `establish_server_with` server, or a regular file opened by `open_file` in
//! mode `Output` or `Append`), checked against a model of the byte stream.
//!
//! A case picks the transport, the buffer sizes of the channels (1 byte to more than a pipe
//! holds; sockets take theirs through `socket_channels_with`, `open_connection_with` and
//! `ServerConfig`) and the input's line-length limit, then runs
//! a random program: writes of every kind (`write`, `write_line`, `write_char`; small, odd and
//! bigger than the pipe), `flush`, `flushed`, `close` of either channel, cancels of pending
//! writes, flushes and closes, reads of every kind (`read_char`, `read_char_opt`, `read_byte`,
//! `read_line`, `read_line_opt`, `read n`, `read_exactly n`, `read_to_end`) left pending side by
//! side, bursts of reads (longer than the streak after which an operation waits for the next
//! turn), cancels of pending reads, turns of the loop in between, reads and writes scripted to
//! run *inside* the callback of an earlier read, on a pipe descriptors closed under either
//! channel (`Fd::close`), and on a socket the channels of the other direction closed (closing
//! the writing end's input closes its connection, the output under test first: the model counts
//! it as a close of the output, cancels included), and `abort` of either channel under test
//! (the output's drops its buffer: the model then lets the input end early). The data
//! mixes `\n`, `\r\n`, lone `\r`, multi-byte UTF-8 and (in some cases) invalid or cut UTF-8. On a
//! file, the writing part of the program runs first, then the reading part (an appended file is
//! read from its old content on).
//!
//! At the end the output channel is closed, the input is drained with `read_to_end`, and the loop
//! runs until everything settles (a wait of more than two seconds is a hang). Then, in the order
//! the reads were called, each outcome is checked against the bytes written (`S`): each read gets
//! the bytes that follow those the earlier reads got, as its kind says (a line up to its `\n`, its
//! `\r` stripped; `LineTooLong` exactly when the line is longer than the limit, consuming nothing;
//! a `FromUtf8Error` (an `InvalidUtf8` for a character) holding exactly the bad bytes, said
//! truncated only where the input ends; `read n` between 1 and `n` bytes...); an end
//! of input (`EndOfFile`, `None`, an empty read, the last line without newline) is seen only where
//! `S` ends; a canceled read gets nothing; once the input channel is closed, the reads still
//! pending and the later ones are `ChannelClosed`. So every byte written is read exactly once, in
//! order, and nothing is made up. Writes, flushes and closes succeed (or are `ChannelClosed`
//! after the close; an `io::Error` only once the reader is gone). No promise stays pending.
//! A failed write or flush leaves the output broken (later writes and flushes fail, its unwritten
//! bytes stay counted in `buffered`); `flushed()` is fulfilled only once the bytes of the writes
//! fulfilled before it have left the buffer. Weaker where the channels say bytes may be lost:
//! after a canceled close or with the writing descriptor closed, the input may end anywhere
//! before `S` does (the reads must still agree with `S` up to there); with the reading
//! descriptor closed, a read may be the `io::Error`; a canceled write's bytes are written
//! entirely or not at all (one of the two must agree). A canceled close of the writing end's
//! input closes the socket under the output: its operation in progress may then get the
//! `io::Error` of the closed descriptor and the ones queued `ChannelClosed`. Closing the reading
//! end's input closes that socket, so a writer waiting for room gets an error: before sockets
//! closed with either channel this hung (case 153117 of seed 23, which the harness used to avoid
//! by closing the other half too).
//!
//! `IO_FUZZ_CASES` (default 8000: 4 to 9 s in a debug build, by load) and `IO_FUZZ_SEED`
//! (default 1) set the run; a failure is shrunk and names its case, which `IO_FUZZ_CASE=<n>`
//! replays alone with a trace.
//!
//! It found one bug, fixed since (tests in `io.rs`): a read or write waiting in the reactor when
//! its descriptor was closed under the channel was rejected with `Abandoned` instead of the
//! `io::Error` of a closed descriptor (case 69 of seed 1 without the fix).

#[path = "support/fuzz.rs"]
mod fuzz;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::string::FromUtf8Error;
use std::time::Duration;

use lwt_core::io::{self, ChannelClosed, EndOfFile, InputChannel, LineTooLong, OutputChannel};
use lwt_core::{join, main, unix, wait, Exn, Promise, Resolver};

use fuzz::{first_async_error, run_cases, run_script, Rng};

// ---- the programs ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Pipe,
    Socket,
    /// A file opened with `open_file` in mode `Output` (truncated), written, closed, then read.
    File,
    /// The same in mode `Append`, to a file that already holds [`OLD`].
    Append,
    /// A TCP connection to a server (`establish_server_with`) on the loopback interface: the
    /// server's output channel writes, the client's input channel reads.
    Tcp,
}

#[derive(Debug)]
struct Setting {
    transport: Transport,
    in_buf: usize,
    out_buf: usize,
    max_line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Read {
    Char,
    CharOpt,
    Byte,
    Line,
    LineOpt,
    Count(usize),
    Exactly(usize),
    ToEnd,
}

/// Data to write, shown as text (cut when long) in a report.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.0[..self.0.len().min(40)];
        write!(f, "{:?}", String::from_utf8_lossy(shown))?;
        if shown.len() < self.0.len() {
            write!(f, "..({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Write(Bytes),
    WriteLine(Bytes),
    WriteChar(char),
    Flush,
    Flushed,
    CloseOut,
    /// Cancels the latest pending flush.
    CancelFlush,
    /// Cancels the latest pending close of the output (its buffered bytes may then be lost).
    CancelClose,
    /// Cancels the latest pending write (its bytes are then written entirely or not at all).
    CancelWrite,
    /// Closes the pipe's reading descriptor under the input channel (`Fd::close`).
    CloseReaderFd,
    /// Closes the pipe's writing descriptor under the output channel.
    CloseWriterFd,
    /// On a socket, closes the channels of the other direction (each end's other half): the
    /// writing end's input closes its connection, the output under test with it.
    CloseOtherHalves,
    /// `abort` of the output channel: closes it (on a socket, its connection) at once, without
    /// writing out its buffer.
    AbortOut,
    /// `abort` of the input channel (on a socket, its connection).
    AbortIn,
    /// A read; with `true`, the next scripted operation runs inside its callback.
    Read(Read, bool),
    /// `n` reads of one kind at once.
    Burst(Read, usize),
    /// Cancels the `k`-th (modulo) read still pending.
    Cancel(usize),
    CloseIn,
    /// `n` turns of the loop (top level only).
    Turn(usize),
    /// Queued, to run inside the callback of a read.
    Script(Box<Op>),
}

impl Op {
    fn writes(&self) -> bool {
        matches!(
            self,
            Op::Write(_)
                | Op::WriteLine(_)
                | Op::WriteChar(_)
                | Op::Flush
                | Op::Flushed
                | Op::CloseOut
                | Op::CancelFlush
                | Op::CancelClose
                | Op::CancelWrite
                | Op::CloseWriterFd
                | Op::AbortOut
        )
    }
}

const TOKENS: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"\n",
    b"\n",
    b"\r\n",
    b"\r",
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
];
const JUNK: &[&[u8]] = &[
    &[0xff],
    &[0x80],
    &[0xc3],
    &[0xe2, 0x82],
    &[0xf0, 0x9f, 0x98],
    &[0xe0, 0x41],
];
const CHARS: &[char] = &['a', 'z', '\n', '\r', 'é', '€', '😀'];

fn gen_bytes(rng: &mut Rng, junk: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(100) {
        0..=2 => {
            // Bigger than a pipe holds.
            out.resize(70_000 + rng.below(5_000) as usize, b'x');
            out.push(b'\n');
        }
        3..=7 => {
            for _ in 0..rng.below(3000) {
                out.push(if rng.below(40) == 0 { b'\n' } else { b'y' });
            }
        }
        _ => {
            for _ in 0..rng.below(9) {
                if junk && rng.below(6) == 0 {
                    out.extend_from_slice(JUNK[rng.below(JUNK.len() as u64) as usize]);
                } else {
                    out.extend_from_slice(TOKENS[rng.below(TOKENS.len() as u64) as usize]);
                }
            }
        }
    }
    out
}

fn gen_read(rng: &mut Rng) -> Read {
    let n = |rng: &mut Rng| {
        if rng.below(100) == 0 {
            // More than a pipe holds.
            70_000 + rng.below(10_000) as usize
        } else if rng.below(10) == 0 {
            rng.below(5000) as usize
        } else {
            rng.below(11) as usize
        }
    };
    match rng.below(16) {
        0 | 1 => Read::Char,
        2 => Read::CharOpt,
        3 | 4 => Read::Byte,
        5..=7 => Read::Line,
        8 => Read::LineOpt,
        9..=11 => Read::Count(n(rng)),
        12..=14 => Read::Exactly(n(rng)),
        _ => Read::ToEnd,
    }
}

fn gen_op(rng: &mut Rng, junk: bool, top: bool) -> Op {
    match rng.below(if top { 42 } else { 36 }) {
        0..=4 => Op::Write(Bytes(gen_bytes(rng, junk))),
        5 => Op::CancelWrite,
        6..=7 => Op::WriteLine(Bytes(gen_bytes(rng, junk))),
        8 => Op::WriteChar(CHARS[rng.below(CHARS.len() as u64) as usize]),
        9..=10 => Op::Flush,
        11 => Op::Flushed,
        12 => {
            if rng.below(3) == 0 {
                Op::CloseOut
            } else {
                Op::Flush
            }
        }
        13 => Op::CancelFlush,
        14 => {
            if rng.below(2) == 0 {
                Op::CancelClose
            } else {
                Op::CancelFlush
            }
        }
        15..=26 => Op::Read(gen_read(rng), rng.below(4) == 0),
        27 => Op::Burst(gen_read(rng), 1 + rng.below(200) as usize),
        28..=30 => Op::Cancel(rng.below(8) as usize),
        31 => {
            if rng.below(4) == 0 {
                Op::CloseIn
            } else {
                Op::Cancel(0)
            }
        }
        32..=35 => Op::Read(gen_read(rng), false),
        36..=37 => Op::Turn(1 + rng.below(3) as usize),
        38 => match rng.below(10) {
            0 => Op::CloseReaderFd,
            1 => Op::CloseWriterFd,
            2 | 3 => Op::CloseOtherHalves,
            4 => Op::AbortOut,
            5 => Op::AbortIn,
            _ => Op::Turn(1),
        },
        _ => Op::Script(Box::new(gen_op(rng, junk, false))),
    }
}

fn gen(rng: &mut Rng) -> (Setting, Vec<Op>) {
    const SIZES: &[usize] = &[1, 2, 3, 4, 5, 7, 16, 4096];
    let transport = match rng.below(8) {
        0 if rng.below(2) == 0 => Transport::Append,
        0 => Transport::File,
        1 => Transport::Socket,
        2 => Transport::Tcp,
        _ => Transport::Pipe,
    };
    let pick = |rng: &mut Rng| SIZES[rng.below(SIZES.len() as u64) as usize];
    let setting = Setting {
        transport,
        in_buf: pick(rng),
        // Sometimes more than a pipe holds.
        out_buf: if rng.below(10) == 0 {
            1 << 17
        } else {
            pick(rng)
        },
        max_line: if rng.below(3) == 0 {
            rng.below(9) as usize
        } else {
            io::DEFAULT_MAX_LINE_LENGTH
        },
    };
    let junk = rng.below(3) == 0;
    let longest = if rng.below(10) == 0 { 150 } else { 50 };
    let n = 1 + rng.below(longest);
    let mut ops = Vec::new();
    for _ in 0..n {
        let op = gen_op(rng, junk, true);
        let other_halves = matches!(op, Op::CloseOtherHalves);
        ops.push(op);
        // Closing the writing end's input waits for the output: half the time, cancel it (at
        // once or a turn later), which closes the socket under the output.
        if other_halves && rng.below(2) == 0 {
            if rng.below(2) == 0 {
                ops.push(Op::Turn(1));
            }
            ops.push(Op::CancelClose);
        }
    }
    (setting, ops)
}

// ---- running them ----

#[derive(Debug)]
enum Got {
    Char(char),
    OptChar(Option<char>),
    Byte(u8),
    Line(String),
    OptLine(Option<String>),
    Bytes(Vec<u8>),
}

struct ReadRec {
    kind: Read,
    /// The drain at the end of the case, which the program does not cancel.
    last: bool,
    /// The input channel had been closed when the read was called.
    after_close: bool,
    cancel_requested: bool,
    cancel: Box<dyn Fn()>,
    pending: Box<dyn Fn() -> bool>,
    /// Fulfilled when the read resolves, either way.
    settled: Promise<()>,
    outcome: Option<Result<Got, Exn>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum WKind {
    Data,
    Flush,
    Flushed,
    Close,
}

struct WriteRec {
    kind: WKind,
    data: Vec<u8>,
    /// A close of the output channel had been called before.
    after_close: bool,
    cancel_requested: bool,
    /// The close at the end of the case, which the program does not cancel.
    last: bool,
    /// A close of the input channel sharing the output's socket (which closes the output,
    /// then the socket), not of the output channel itself.
    via_input: bool,
    promise: Promise<()>,
    outcome: Rc<RefCell<Option<Result<(), Exn>>>>,
}

struct World {
    /// Failures seen while the case runs.
    errors: Vec<String>,
    ic: Option<InputChannel>,
    oc: OutputChannel,
    reads: Vec<ReadRec>,
    writes: Vec<WriteRec>,
    in_closes: Vec<Promise<()>>,
    in_closed: bool,
    out_close_called: bool,
    close_canceled: bool,
    /// A canceled close of the input channel sharing the output's socket closed the socket
    /// under the output: its operation in progress gets the error of the closed descriptor,
    /// and the ones queued behind it `ChannelClosed`.
    socket_closed_early: bool,
    /// The output channel was aborted: its bytes still buffered are lost, its operation in
    /// progress (perhaps partly written) and the ones queued get `ChannelClosed`.
    out_aborted: bool,
    /// The aborts, which must succeed.
    aborts: Vec<Promise<()>>,
    /// The pipe's descriptors (reading, writing), to close under the channels.
    fds: Option<(unix::Fd, unix::Fd)>,
    reader_fd_closed: bool,
    writer_fd_closed: bool,
    /// On a socket pair: the input of the writing end and the output of the reading end.
    halves: Option<(InputChannel, OutputChannel)>,
    scripts: VecDeque<Op>,
    depth: usize,
    trace: bool,
}

impl World {
    /// The input may end before the bytes written do: a canceled close or an abort dropped the
    /// output's buffer, or the writing descriptor was closed under it.
    fn truncated(&self) -> bool {
        self.close_canceled || self.writer_fd_closed || self.out_aborted
    }
}

type W = Rc<RefCell<World>>;

fn parts(w: &mut World) -> (&mut VecDeque<Op>, &mut usize) {
    (&mut w.scripts, &mut w.depth)
}

fn trace(w: &W, what: impl FnOnce() -> String) {
    if w.borrow().trace {
        eprintln!("  {}", what());
    }
}

fn start_read(w: &W, kind: Read, hook: bool) {
    let Some(ic) = w.borrow().ic.clone() else {
        return;
    };
    let i = {
        let mut ww = w.borrow_mut();
        let after_close = ww.in_closed;
        ww.reads.push(ReadRec {
            kind,
            last: false,
            after_close,
            cancel_requested: false,
            cancel: Box::new(|| ()),
            pending: Box::new(|| false),
            settled: Promise::ret(()),
            outcome: None,
        });
        ww.reads.len() - 1
    };
    trace(w, || {
        format!("read {i}: {kind:?}{}", if hook { " (hooked)" } else { "" })
    });
    fn watch<T: Clone + 'static>(w: &W, i: usize, hook: bool, p: Promise<T>, got: fn(T) -> Got) {
        let (p1, p2) = (p.clone(), p.clone());
        {
            let mut ww = w.borrow_mut();
            ww.reads[i].cancel = Box::new(move || p1.cancel());
            ww.reads[i].pending = Box::new(move || p2.is_pending());
            ww.reads[i].settled = p.clone().map(|_| ()).catch(|_| Promise::ret(()));
        }
        let (w1, w2) = (w.clone(), w.clone());
        let done = move |w: &W, outcome: Result<Got, Exn>| {
            trace(w, || format!("read {i} -> {outcome:?}"));
            w.borrow_mut().reads[i].outcome = Some(outcome);
            if hook {
                run_script(w, parts, exec);
            }
        };
        let done2 = done;
        p.on_any(
            move |v| done(&w1, Ok(got(v.clone()))),
            move |e| done2(&w2, Err(e.clone())),
        );
    }
    match kind {
        Read::Char => watch(w, i, hook, ic.read_char(), Got::Char),
        Read::CharOpt => watch(w, i, hook, ic.read_char_opt(), Got::OptChar),
        Read::Byte => watch(w, i, hook, ic.read_byte(), Got::Byte),
        Read::Line => watch(w, i, hook, ic.read_line(), Got::Line),
        Read::LineOpt => watch(w, i, hook, ic.read_line_opt(), Got::OptLine),
        Read::Count(n) => watch(w, i, hook, ic.read(n), Got::Bytes),
        Read::Exactly(n) => watch(w, i, hook, ic.read_exactly(n), Got::Bytes),
        Read::ToEnd => watch(w, i, hook, ic.read_to_end(), Got::Bytes),
    }
}

fn start_write(
    w: &W,
    kind: WKind,
    data: Vec<u8>,
    call: impl FnOnce(&OutputChannel) -> Promise<()>,
) {
    let oc = w.borrow().oc.clone();
    let i = {
        let mut ww = w.borrow_mut();
        let after_close = ww.out_close_called;
        if kind == WKind::Close {
            ww.out_close_called = true;
        }
        ww.writes.push(WriteRec {
            kind,
            data,
            after_close,
            cancel_requested: false,
            last: false,
            via_input: false,
            promise: Promise::ret(()),
            outcome: Rc::default(),
        });
        ww.writes.len() - 1
    };
    trace(w, || {
        format!(
            "write {i}: {kind:?} {:?}",
            String::from_utf8_lossy(&w.borrow().writes[i].data)
        )
    });
    let p = call(&oc);
    let slot = w.borrow().writes[i].outcome.clone();
    let slot2 = slot.clone();
    p.on_any(
        move |()| *slot.borrow_mut() = Some(Ok(())),
        move |e| *slot2.borrow_mut() = Some(Err(e.clone())),
    );
    w.borrow_mut().writes[i].promise = p;
}

/// The bytes of the data writes whose outcome passes `f`.
fn data_bytes(w: &W, f: impl Fn(Option<&Result<(), Exn>>) -> bool) -> usize {
    let ww = w.borrow();
    ww.writes
        .iter()
        .filter(|r| r.kind == WKind::Data && f(r.outcome.borrow().as_ref()))
        .map(|r| r.data.len())
        .sum()
}

fn cancel_last_write(w: &W, kind: WKind) {
    let p = {
        let mut ww = w.borrow_mut();
        let found = ww
            .writes
            .iter_mut()
            .rev()
            .find(|r| r.kind == kind && r.promise.is_pending() && !r.last);
        match found {
            Some(r) => {
                r.cancel_requested = true;
                (r.promise.clone(), r.via_input)
            }
            None => return,
        }
    };
    let (p, via_input) = p;
    if kind == WKind::Close {
        w.borrow_mut().close_canceled = true;
        w.borrow_mut().socket_closed_early |= via_input;
    }
    trace(w, || format!("cancel the last pending {kind:?}"));
    p.cancel();
}

fn exec(w: &W, op: &Op) {
    match op {
        Op::Write(Bytes(d)) => {
            let d2 = d.clone();
            start_write(w, WKind::Data, d.clone(), move |oc| oc.write(d2));
        }
        Op::WriteLine(Bytes(d)) => {
            let mut data = d.clone();
            data.push(b'\n');
            let d2 = d.clone();
            start_write(w, WKind::Data, data, move |oc| oc.write_line(d2));
        }
        Op::WriteChar(c) => {
            let c = *c;
            let data = c.to_string().into_bytes();
            start_write(w, WKind::Data, data, move |oc| oc.write_char(c));
        }
        Op::Flush => start_write(w, WKind::Flush, Vec::new(), OutputChannel::flush),
        Op::Flushed => {
            // The bytes of the writes fulfilled so far must be out of the buffer when it is.
            let need = data_bytes(w, |o| matches!(o, Some(Ok(()))));
            let w2 = w.clone();
            start_write(w, WKind::Flushed, Vec::new(), move |oc| {
                let p = oc.flushed();
                p.on_success(move |()| {
                    // Every byte accepted so far (written, or still in the buffer).
                    let upper = data_bytes(&w2, |o| !matches!(o, Some(Err(e)) if closed(e, "output")));
                    let buffered = w2.borrow().oc.buffered();
                    if buffered + need > upper {
                        let e = format!("flushed() fulfilled with {buffered} bytes buffered, {need} of {upper} due out");
                        w2.borrow_mut().errors.push(e);
                    }
                });
                p
            });
        }
        Op::CloseOut => start_write(w, WKind::Close, Vec::new(), OutputChannel::close),
        Op::CancelFlush => cancel_last_write(w, WKind::Flush),
        Op::CancelClose => cancel_last_write(w, WKind::Close),
        Op::CancelWrite => cancel_last_write(w, WKind::Data),
        Op::CloseOtherHalves => {
            let Some((a_in, b_out)) = w.borrow().halves.clone() else {
                return;
            };
            trace(w, || "close the other halves of the sockets".to_string());
            // Closing the writing end's input closes its connection, starting with the output
            // under test: a close of the output as far as the model goes (cancels included).
            start_write(w, WKind::Close, Vec::new(), move |_| a_in.close());
            if let Some(r) = w.borrow_mut().writes.last_mut() {
                r.via_input = true;
            }
            // The reading end's output does not touch the stream: closing it must succeed.
            let closed = b_out.close();
            w.borrow_mut().in_closes.push(closed);
        }
        Op::AbortOut => {
            trace(w, || "abort the output".to_string());
            let oc = w.borrow().oc.clone();
            {
                let mut ww = w.borrow_mut();
                ww.out_close_called = true;
                ww.out_aborted = true;
            }
            let p = oc.abort();
            w.borrow_mut().aborts.push(p);
        }
        Op::AbortIn => {
            let Some(ic) = w.borrow().ic.clone() else {
                return;
            };
            trace(w, || "abort the input".to_string());
            w.borrow_mut().in_closed = true;
            let p = ic.abort();
            w.borrow_mut().aborts.push(p);
        }
        Op::CloseReaderFd | Op::CloseWriterFd => {
            let reader = matches!(op, Op::CloseReaderFd);
            let Some((r, wr)) = w.borrow().fds.clone() else {
                return;
            };
            trace(w, || {
                format!(
                    "close the {} descriptor",
                    if reader { "reading" } else { "writing" }
                )
            });
            if reader {
                w.borrow_mut().reader_fd_closed = true;
                let _ = r.close();
            } else {
                w.borrow_mut().writer_fd_closed = true;
                let _ = wr.close();
            }
        }
        Op::Read(kind, hook) => start_read(w, *kind, *hook),
        Op::Burst(kind, n) => {
            for _ in 0..*n {
                start_read(w, *kind, false);
            }
        }
        Op::Cancel(k) => {
            let pending: Vec<usize> = {
                let ww = w.borrow();
                (0..ww.reads.len())
                    .filter(|&i| (ww.reads[i].pending)() && !ww.reads[i].last)
                    .collect()
            };
            if pending.is_empty() {
                return;
            }
            let i = pending[k % pending.len()];
            trace(w, || format!("cancel read {i}"));
            let cancel = {
                let mut ww = w.borrow_mut();
                ww.reads[i].cancel_requested = true;
                std::mem::replace(&mut ww.reads[i].cancel, Box::new(|| ()))
            };
            cancel();
        }
        Op::CloseIn => {
            let Some(ic) = w.borrow().ic.clone() else {
                return;
            };
            trace(w, || "close the input".to_string());
            w.borrow_mut().in_closed = true;
            let p = ic.close();
            w.borrow_mut().in_closes.push(p);
        }
        Op::Turn(n) => {
            if w.borrow().depth == 0 {
                for _ in 0..*n {
                    main::run(main::pause()).unwrap();
                }
            }
        }
        Op::Script(op) => w.borrow_mut().scripts.push_back((**op).clone()),
    }
}

/// What an `Append` case's file holds before it is opened.
const OLD: &[u8] = b"old\r\nfile";

fn temp_path() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "lwt-io-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs the loop until `p` resolves, or fails after two seconds.
fn settle(p: Promise<()>) -> Result<(), String> {
    let timed = unix::with_timeout(Duration::from_secs(2), move || p);
    match main::run(timed) {
        Ok(()) => Ok(()),
        Err(e) if e.is::<unix::Timeout>() => Err("hang: still pending after 2 s".to_string()),
        Err(e) => Err(format!("settle: {e:?}")),
    }
}

fn run_case(s: &Setting, ops: &[Op], trace_on: bool) -> Result<usize, String> {
    let mut path = None;
    let mut fds = None;
    let mut server = None;
    let (ic, oc, peer) = match s.transport {
        Transport::Pipe => {
            let (r, w) = unix::pipe().map_err(|e| e.to_string())?;
            fds = Some((r.clone(), w.clone()));
            let ic = InputChannel::with_buffer_size(r, s.in_buf);
            (
                Some(ic),
                OutputChannel::with_buffer_size(w, s.out_buf),
                None,
            )
        }
        Transport::Socket => {
            let (a, b) = unix::socketpair().map_err(|e| e.to_string())?;
            // Both ends take the setting's input and output sizes (the ones under test are the
            // writing end's output and the reading end's input).
            let sized = io::ChannelConfig::new()
                .in_buffer_size(s.in_buf)
                .out_buffer_size(s.out_buf);
            let (a_in, a_out) = io::socket_channels_with(a, sized).map_err(|e| e.to_string())?;
            let (b_in, b_out) = io::socket_channels_with(b, sized).map_err(|e| e.to_string())?;
            (Some(b_in), a_out, Some((a_in, b_out)))
        }
        Transport::Tcp => {
            let (ic, oc, peer, stop) = tcp(s)?;
            server = Some(stop);
            (Some(ic), oc, Some(peer))
        }
        Transport::File | Transport::Append => {
            let p = temp_path();
            std::fs::write(&p, OLD).map_err(|e| e.to_string())?;
            let oc = if s.transport == Transport::Append {
                main::run(io::open_file(&p, io::Append))
            } else {
                main::run(io::open_file(&p, io::Output))
            };
            path = Some(p);
            (None, oc.map_err(|e| e.to_string())?, None)
        }
    };
    if let Some(ic) = &ic {
        ic.set_max_line_length(s.max_line);
    }
    let w: W = Rc::new(RefCell::new(World {
        errors: Vec::new(),
        ic,
        oc,
        reads: Vec::new(),
        writes: Vec::new(),
        in_closes: Vec::new(),
        in_closed: false,
        out_close_called: false,
        close_canceled: false,
        socket_closed_early: false,
        out_aborted: false,
        aborts: Vec::new(),
        fds,
        reader_fd_closed: false,
        writer_fd_closed: false,
        halves: peer.clone(),
        scripts: VecDeque::new(),
        depth: 0,
        trace: trace_on,
    }));
    trace(&w, || format!("{s:?}"));
    let mut ordered: Vec<&Op> = ops.iter().collect();
    if path.is_some() {
        // The writing part first (to the end), then the reading part.
        ordered.sort_by_key(|op| !op.writes());
    }
    let mut opened = false;
    for op in ordered {
        if let Some(p) = &path {
            if !opened && !op.writes() {
                opened = true;
                open_file_input(&w, p, s)?;
            }
        }
        trace(&w, || format!("op {op:?}"));
        exec(&w, op);
    }
    if let Some(p) = &path {
        if !opened {
            open_file_input(&w, p, s)?;
        }
    }
    // The end: close the output, drain the input, and let everything settle.
    exec(&w, &Op::CloseOut);
    if let Some(last) = w.borrow_mut().writes.last_mut() {
        last.last = true;
    }
    if !w.borrow().in_closed {
        exec(&w, &Op::Read(Read::ToEnd, false));
        if let Some(last) = w.borrow_mut().reads.last_mut() {
            last.last = true;
        }
    }
    // Callbacks may start more operations meanwhile: settle until none is left.
    let mut settled = Ok(());
    let mut seen = usize::MAX;
    while settled.is_ok() {
        let all: Vec<Promise<()>> = {
            let ww = w.borrow();
            let reads = ww.reads.iter().map(|r| r.settled.clone());
            let writes = ww
                .writes
                .iter()
                .map(|r| r.promise.clone().catch(|_| Promise::ret(())));
            let closes = ww
                .in_closes
                .iter()
                .map(|p| p.clone().catch(|_| Promise::ret(())));
            reads.chain(writes).chain(closes).collect()
        };
        if all.len() == seen {
            break;
        }
        seen = all.len();
        settled = settle(join(all));
    }
    let steps = ops.len();
    let result = settled.and_then(|()| check(&w, s));
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
    }
    drop(peer);
    if let Some((server, handler_done)) = server {
        // The handler returns: the server closes its channels; then it stops.
        handler_done.wakeup(());
        main::run(server.shutdown()).map_err(|e| e.to_string())?;
        settle(server.drained())?;
    }
    if let Some(e) = w.borrow().errors.first() {
        return Err(e.clone());
    }
    if let Some(e) = first_async_error() {
        return Err(format!("an observer panicked: {e}"));
    }
    result.map(|()| steps)
}

type Halves = (InputChannel, OutputChannel);

/// A server on the loopback interface and a client connected to it: (the client's input, the
/// server's output, the other two channels, and the server with the resolver that ends the
/// handler).
#[allow(clippy::type_complexity)]
fn tcp(
    s: &Setting,
) -> Result<
    (
        InputChannel,
        OutputChannel,
        Halves,
        (io::Server, Resolver<()>),
    ),
    String,
> {
    let served: Rc<RefCell<Option<Halves>>> = Rc::default();
    let (handler_done, end) = wait::<()>();
    let config = io::ServerConfig::new()
        .in_buffer_size(s.in_buf)
        .out_buffer_size(s.out_buf)
        .on_error(|e| panic!("server error: {e}"));
    let slot = served.clone();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = main::run(io::establish_server_with(addr, config, move |_, ic, oc| {
        *slot.borrow_mut() = Some((ic, oc));
        handler_done.clone()
    }))
    .map_err(|e| e.to_string())?;
    let addr = server.local_addr().ok_or("no address")?;
    let client = io::ChannelConfig::new()
        .in_buffer_size(s.in_buf)
        .out_buffer_size(s.out_buf);
    let (c_in, c_out) =
        main::run(io::open_connection_with(addr, client)).map_err(|e| e.to_string())?;
    for _ in 0..1000 {
        if served.borrow().is_some() {
            break;
        }
        settle(unix::sleep(Duration::from_micros(100)))?;
    }
    let (s_in, s_out) = served.borrow_mut().take().ok_or("never accepted")?;
    Ok((c_in, s_out, (s_in, c_out), (server, end)))
}

fn open_file_input(w: &W, path: &std::path::Path, s: &Setting) -> Result<(), String> {
    // Everything written goes to the file before it is read.
    exec(w, &Op::CloseOut);
    let oc = w.borrow().oc.clone();
    let _ = settle(oc.close().catch(|_| Promise::ret(())));
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let fd = unix::Fd::from_owned(file.into()).map_err(|e| e.to_string())?;
    let ic = InputChannel::with_buffer_size(fd, s.in_buf);
    ic.set_max_line_length(s.max_line);
    w.borrow_mut().ic = Some(ic);
    Ok(())
}

// ---- the model ----

fn is_io(e: &Exn) -> bool {
    e.is::<std::io::Error>()
}

fn closed(e: &Exn, which: &str) -> bool {
    e.downcast_ref::<ChannelClosed>()
        .is_some_and(|c| c.0 == which)
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

struct Checker<'a> {
    s: &'a [u8],
    pos: usize,
    /// The input may end before `s` does (a canceled close lost the bytes still buffered).
    truncated: bool,
    /// Where a read saw the end of input.
    eof_at: Option<usize>,
}

impl Checker<'_> {
    fn rem(&self) -> &[u8] {
        &self.s[self.pos..]
    }

    /// A read saw the end of input after consuming `n` more bytes.
    fn eof(&mut self, n: usize) -> Result<(), String> {
        let at = self.pos + n;
        if !self.truncated && at != self.s.len() {
            return Err(format!(
                "end of input seen at byte {at}, but {} bytes were written",
                self.s.len()
            ));
        }
        if at > self.s.len() {
            return Err(format!(
                "end of input seen at byte {at}, past the {} written",
                self.s.len()
            ));
        }
        if let Some(before) = self.eof_at {
            if before != at {
                return Err(format!("end of input seen at byte {before}, then at {at}"));
            }
        }
        self.eof_at = Some(at);
        Ok(())
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), String> {
        if !self.rem().starts_with(bytes) {
            return Err(format!(
                "got {:?}, but the stream at byte {} is {:?}",
                String::from_utf8_lossy(bytes),
                self.pos,
                String::from_utf8_lossy(&self.rem()[..self.rem().len().min(bytes.len() + 8)])
            ));
        }
        if let Some(at) = self.eof_at {
            if !bytes.is_empty() {
                return Err(format!(
                    "bytes read after the end of input was seen at {at}"
                ));
            }
        }
        self.pos += bytes.len();
        Ok(())
    }

    fn char(&mut self, got: Result<Option<char>, &Exn>) -> Result<(), String> {
        match got {
            Ok(Some(c)) => self.take(c.to_string().as_bytes()),
            Ok(None) => self.eof(0),
            Err(e) => {
                if e.is::<EndOfFile>() {
                    return self.eof(0);
                }
                let Some(bad) = e.downcast_ref::<lwt_core::io::InvalidUtf8>() else {
                    return Err(format!("read_char: unexpected error {e:?}"));
                };
                let truncated = bad.is_truncated();
                let bad = bad.as_bytes().to_vec();
                let rem = self.rem();
                if rem.is_empty() {
                    return Err("read_char: invalid UTF-8 at the end of input".into());
                }
                let avail = rem[..rem.len().min(utf8_width(rem[0]))].to_vec();
                let expected = std::str::from_utf8(&avail)
                    .err()
                    .and_then(|u| u.error_len());
                let cut = matches!(std::str::from_utf8(&bad), Err(u) if u.error_len().is_none());
                if self.truncated && cut && rem.starts_with(&bad) && expected != Some(bad.len()) {
                    // A sequence cut by an end of input that came early.
                    if !truncated {
                        return Err(format!("read_char: cut {bad:?} said invalid"));
                    }
                    self.take(&bad)?;
                    return self.eof(0);
                }
                match std::str::from_utf8(&avail) {
                    Ok(_) => Err(format!(
                        "read_char: {bad:?} said invalid, stream has {avail:?}"
                    )),
                    Err(u) => match u.error_len() {
                        // Said cut short only if the input may have ended early just there.
                        Some(k) if k == bad.len() && (!truncated || self.truncated) => {
                            self.take(&bad)
                        }
                        Some(k) if k == bad.len() => {
                            Err(format!("read_char: invalid {bad:?} said truncated"))
                        }
                        Some(k) => Err(format!(
                            "read_char: {bad:?} rejected, {k} bad bytes expected"
                        )),
                        None => {
                            self.take(&bad)?;
                            if !truncated {
                                return Err(format!("read_char: cut {bad:?} said invalid"));
                            }
                            if bad.len() != avail.len() {
                                return Err(format!(
                                    "read_char: cut sequence {avail:?} gave {bad:?}"
                                ));
                            }
                            self.eof(0)
                        }
                    },
                }
            }
        }
    }

    fn line(&mut self, got: Result<Option<String>, &Exn>, limit: usize) -> Result<(), String> {
        let rem = self.rem();
        let newline = rem.iter().position(|&b| b == b'\n');
        let content = newline.map(|i| {
            if i > 0 && rem[i - 1] == b'\r' {
                i - 1
            } else {
                i
            }
        });
        let too_long = match content {
            Some(c) => c > limit,
            None => rem.len() > limit,
        };
        let bytes = match got {
            Ok(None) => return self.eof(0),
            Ok(Some(l)) => l.into_bytes(),
            Err(e) if e.is::<EndOfFile>() => return self.eof(0),
            Err(e) if e.is::<LineTooLong>() => {
                return if too_long || self.truncated {
                    Ok(())
                } else {
                    Err(format!(
                        "LineTooLong, but the next line is {content:?} bytes (limit {limit})"
                    ))
                };
            }
            Err(e) => match e.downcast_ref::<FromUtf8Error>() {
                Some(bad) => {
                    if std::str::from_utf8(bad.as_bytes()).is_ok() {
                        return Err("read_line: valid UTF-8 reported invalid".into());
                    }
                    bad.as_bytes().to_vec()
                }
                None => return Err(format!("read_line: unexpected error {e:?}")),
            },
        };
        if too_long && !self.truncated {
            return Err(format!(
                "read_line gave {} bytes; the line is longer than the limit {limit}",
                bytes.len()
            ));
        }
        if bytes.len() > limit {
            return Err(format!(
                "read_line gave {} bytes, limit {limit}",
                bytes.len()
            ));
        }
        if bytes.contains(&b'\n') {
            return Err("read_line: a line holds a newline".into());
        }
        self.take(&bytes)?;
        let rest = self.rem();
        if rest.starts_with(b"\n") {
            if bytes.ends_with(b"\r") {
                if self.truncated {
                    // The input may have ended between the two.
                    return self.eof(0);
                }
                return Err("read_line: the \\r of a \\r\\n was kept".into());
            }
            self.pos += 1;
            Ok(())
        } else if rest.starts_with(b"\r\n") {
            self.pos += 2;
            Ok(())
        } else {
            // The last line, without a newline.
            self.eof(0)
        }
    }
}

fn check(w: &W, s: &Setting) -> Result<(), String> {
    let ww = w.borrow();
    let reader_gone = ww.in_closed || ww.reader_fd_closed || ww.writer_fd_closed;
    let truncated = ww.truncated();
    let early = ww.socket_closed_early || ww.out_aborted;
    // The output side.
    let mut optional = Vec::new();
    for (i, r) in ww.writes.iter().enumerate() {
        let outcome = r.outcome.borrow();
        let Some(outcome) = outcome.as_ref() else {
            return Err(format!("write {i} ({:?}) still pending", r.kind));
        };
        let ok = match outcome {
            Ok(()) => {
                if r.after_close && matches!(r.kind, WKind::Data | WKind::Flush) && !truncated {
                    return Err(format!("write {i} after close fulfilled"));
                }
                true
            }
            Err(e) if e.is_canceled() => {
                if r.kind == WKind::Data {
                    optional.push(i);
                }
                r.cancel_requested
            }
            Err(e) if closed(e, "output") => {
                r.after_close || (truncated && r.kind == WKind::Flushed) || early
            }
            Err(e) if is_io(e) => reader_gone || early,
            Err(_) => false,
        };
        if !ok {
            return Err(format!(
                "write {i} ({:?}, after close {}): {outcome:?}",
                r.kind, r.after_close
            ));
        }
    }
    // A failed write leaves the channel broken: the later writes and flushes get an error too,
    // and the bytes not written stay counted in `buffered`.
    let mut broken = None;
    for (i, r) in ww.writes.iter().enumerate() {
        let outcome = r.outcome.borrow();
        // (`flushed` waits outside the order of operations: its failure may come later.)
        let failed = matches!(outcome.as_ref(), Some(Err(e)) if is_io(e))
            && matches!(r.kind, WKind::Data | WKind::Flush);
        if failed && broken.is_none() {
            broken = Some(i);
        }
        let refused = matches!(outcome.as_ref(), Some(Err(_)));
        if let Some(b) = broken {
            if matches!(r.kind, WKind::Data | WKind::Flush) && !refused {
                return Err(format!(
                    "write {b} failed, then write {i} ({:?}) succeeded",
                    r.kind
                ));
            }
        }
    }
    if let Some(e) = ww.oc.error() {
        if ww.oc.buffered() == 0 {
            return Err(format!(
                "the output is broken ({e:?}) with no byte left unwritten"
            ));
        }
    } else if !truncated && ww.oc.buffered() != 0 {
        return Err(format!(
            "closed with {} bytes still buffered",
            ww.oc.buffered()
        ));
    }
    if let Some(ic) = &ww.ic {
        if ic.is_closed() != ww.in_closed || (ic.is_closed() && ic.buffered() != 0) {
            return Err(format!(
                "input closed {}, {} bytes buffered",
                ic.is_closed(),
                ic.buffered()
            ));
        }
    }
    for p in &ww.in_closes {
        if let Some(e) = p.rejection() {
            return Err(format!("closing the input: {e:?}"));
        }
    }
    for p in &ww.aborts {
        if let Some(e) = p.rejection() {
            return Err(format!("abort: {e:?}"));
        }
    }
    // A canceled write is written entirely or not at all: one of the combinations must agree.
    let combos = 1u32 << optional.len().min(10);
    let mut first_err = None;
    for mask in (0..combos).rev() {
        let mut stream = Vec::new();
        if s.transport == Transport::Append {
            stream.extend_from_slice(OLD);
        }
        for (i, r) in ww.writes.iter().enumerate() {
            let outcome = r.outcome.borrow();
            // A `ChannelClosed` write wrote nothing, except the one an abort of the output
            // interrupted, which may have written part of its bytes. Nothing is written after
            // an abort, and the input may then end anywhere (`truncated`), so keeping every
            // such write in the stream then only lengthens its end.
            let refused = matches!(outcome.as_ref(), Some(Err(e)) if closed(e, "output"));
            if r.kind != WKind::Data || (refused && !ww.out_aborted) {
                continue;
            }
            if let Some(k) = optional.iter().position(|&j| j == i) {
                if k < 10 && mask & (1 << k) == 0 {
                    continue;
                }
            }
            stream.extend_from_slice(&r.data);
        }
        match check_reads(&ww, s, &stream) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_default())
}

fn check_reads(ww: &World, s: &Setting, stream: &[u8]) -> Result<(), String> {
    let reader_gone = ww.in_closed;
    let truncated = ww.truncated();
    // The input side, in the order the reads were called.
    let mut c = Checker {
        s: stream,
        pos: 0,
        truncated,
        eof_at: None,
    };
    let mut closed_seen = false;
    for (i, r) in ww.reads.iter().enumerate() {
        let Some(outcome) = r.outcome.as_ref() else {
            return Err(format!("hang: read {i} ({:?}) still pending", r.kind));
        };
        let at = c.pos;
        let fail = |e: String| format!("read {i} ({:?}) at byte {at}: {e}", r.kind);
        match outcome {
            Err(e) if e.is_canceled() => {
                if !r.cancel_requested {
                    return Err(fail("canceled, but nobody canceled it".into()));
                }
                continue;
            }
            Err(e) if closed(e, "input") => {
                if !reader_gone {
                    return Err(fail("ChannelClosed, but the input was not closed".into()));
                }
                closed_seen = true;
                continue;
            }
            // A read on a closed descriptor is the `io::Error` (and consumes nothing).
            Err(e) if is_io(e) && ww.reader_fd_closed => continue,
            _ if closed_seen || r.after_close => {
                return Err(fail(format!("{outcome:?} after the input was closed")));
            }
            _ => {}
        }
        let res = match (r.kind, outcome) {
            (Read::Char, Ok(Got::Char(ch))) => c.char(Ok(Some(*ch))),
            (Read::Char | Read::CharOpt, Err(e)) => c.char(Err(e)),
            (Read::CharOpt, Ok(Got::OptChar(ch))) => c.char(Ok(*ch)),
            (Read::Byte, Ok(Got::Byte(b))) => c.take(&[*b]),
            (Read::Byte, Err(e)) if e.is::<EndOfFile>() => c.eof(0),
            (Read::Line, Ok(Got::Line(l))) => c.line(Ok(Some(l.clone())), s.max_line),
            (Read::LineOpt, Ok(Got::OptLine(l))) => c.line(Ok(l.clone()), s.max_line),
            (Read::Line | Read::LineOpt, Err(e)) => c.line(Err(e), s.max_line),
            (Read::Count(n), Ok(Got::Bytes(b))) => {
                if b.is_empty() && n > 0 {
                    c.eof(0)
                } else if b.len() > n {
                    Err(format!("{} bytes for a read of {n}", b.len()))
                } else {
                    c.take(b)
                }
            }
            (Read::Exactly(n), Ok(Got::Bytes(b))) => {
                if b.len() != n {
                    Err(format!("{} bytes for read_exactly {n}", b.len()))
                } else {
                    c.take(b)
                }
            }
            (Read::Exactly(n), Err(e)) if e.is::<EndOfFile>() => {
                if c.rem().len() >= n && !c.truncated {
                    Err(format!("EndOfFile, but {} bytes remain", c.rem().len()))
                } else if let Some(end) = c.eof_at.filter(|&end| end >= at + n) {
                    Err(format!("EndOfFile, but the input ends at {end}"))
                } else {
                    Ok(())
                }
            }
            (Read::ToEnd, Ok(Got::Bytes(b))) => c.take(b).and_then(|()| c.eof(0)),
            (_, outcome) => Err(format!("unexpected {outcome:?}")),
        };
        res.map_err(fail)?;
    }
    if !reader_gone && !truncated && !ww.reader_fd_closed && c.pos != stream.len() {
        return Err(format!("{} bytes written, {} read", stream.len(), c.pos));
    }
    Ok(())
}

#[test]
fn random_channel_programs_agree_with_the_model() {
    run_cases("IO_FUZZ", 8_000, gen, run_case);
}
