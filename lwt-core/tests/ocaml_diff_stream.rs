//! A differential test of the stream consumers against real OCaml Lwt 5.6.1, built like
//! `ocaml_diff_sync.rs` (which covers the reads, `create`, the derived streams and `iter_s`):
//! random straight-line programs over a few streams and a pool of `i64` promises run on
//! `lwt-core` (interpreted here, in process) and on Lwt (`tests/ocaml/lwt_diff_stream.ml`,
//! compiled once per test process), and must agree on the state of every promise of the pool
//! after every operation, on what every query saw, and on the callbacks and generator calls that
//! ran (with which element, in which operation).
//!
//! The streams: `create` (`push`, `close`), `from` whose generator answers by a script (an
//! element or the end at once, a rejected promise, a raise, which is a panic here, or a pending
//! promise that a later operation resolves with an element or the end, or rejects), `of_list`;
//! over one of them, `wrap_exn`, `map_list`, `map_list_s` (its callback promises resolved later)
//! and `flatten`. The consumers, each storing its result in a slot: `fold`, `fold_s`, `find`,
//! `find_s`, `find_map`, `find_map_s`, `iter`, `iter_s`, `iter_p`, `iter_n`, `to_list`, `parse`
//! (a parser that `nget`s and then waits on a callback promise the program resolves or rejects,
//! so that a failure rewinds), with `get`, `peek`, `get_available`, `is_closed` of the same
//! streams before, between and after them, and `cancel` of any slot. An `_s` callback returns a
//! value at once, fails or raises at once on some elements, or returns a `wait()` or `task()`
//! promise that a later operation resolves or rejects (a cancel of the consumer reaches a
//! `task()`); `fold`'s and `iter`'s callbacks raise on some elements. A consumer's callback may
//! first push to or close a stream, cancel a slot (its own consumer's too), or fulfill another
//! callback promise, at its first call, so that consumers are re-entered and one operation
//! resolves chains across streams. Parsers may nest: a failed inner parse is rewound, and the
//! outer one may then fail and rewind too.
//!
//! Not compared, because the crate differs there on purpose (each cuts the *family* of streams
//! concerned, a stream and those derived from it, from that operation on: its slots, queries and
//! calls are compared up to there only; see [`cuts`]):
//!
//! * a read of a stream while another read of its family is pending (a consumer that has not
//!   ended, a `get` waiting, a parse whose parser runs): here reads are served in order, Lwt's
//!   consumers each follow their own position and see the same elements (`stream` module docs,
//!   "Differences from Lwt, on purpose", the first point);
//! * an `iter_p` or `iter_n` once one of its callbacks failed or it was canceled: Lwt's `iter_p`
//!   reads on and calls the callback on the later elements, its `iter_n` rejects at once, here
//!   both stop reading and reject once the running callbacks are done (same docs, the `iter_p`
//!   point);
//! * an `iter_n` whose read fails (a generator's rejection or raise): Lwt's rejects at once,
//!   its running callbacks left, here it rejects once they are done, as for a failed callback
//!   (the `par` function's docs in `stream/drive.rs`; the module docs say it of callbacks only).
//!   Pinned by `iter_n_rejects_at_once_on_a_failed_read_in_lwt`;
//! * an `iter_p` whose generator (or `map_list_s` callback) *raises* while a callback runs: the
//!   exception escapes Lwt's `iter_p_rec` and rejects the result at once; here the panic is a
//!   rejected read, and `iter_p` waits for the running callbacks, as Lwt's does for a rejected
//!   read (README, the point on panics; module docs, the `iter_p` point). Pinned by
//!   `iter_p_rejects_at_once_on_a_raising_generator_in_lwt`;
//! * a generator (or `map_list_s` callback) failure while no read of the family waits for an
//!   element (none pending, or those pending wait on their own callback's promise): Lwt loses
//!   it, here it rejects the next read (same docs, "A generator failure is never lost");
//! * a `get_available` whose generator call fails: Lwt's raises and drops what it took, here it
//!   returns them and leaves the failure to the next read (README, "Where this differs from Lwt,
//!   on purpose", the point on a stream's generator failure);
//! * a generator that raises at the call of a consumer: Lwt's function raises, here (a panic)
//!   it rejects the consumer's promise (README, the point on `bind` and panics). The interpreter
//!   turns Lwt's raise into a rejection, so this is compared as the same outcome;
//! * callbacks of different owners that run in one operation: the callback order differs on
//!   purpose (README, the first point); each owner's calls in an operation are compared in order
//!   (a generator's are its family's own).
//!
//! Two more cuts follow from those: a callback's action on another family, once its consumer's
//! family is cut before the action ran, cuts that family too; and a stream closed again by a
//! callback of its own close (an action's) makes the outer close raise `Invalid_argument
//! "Lwt.wakeup"`, a defect of Lwt 5.6.1 that `ocaml_diff_sync` found, which ends Lwt's run or
//! rejects the promise of the callback that closed, so nothing is compared from there.
//!
//! The default run compares about 17,000 slots to the end and 8,300 up to a cut (most of them
//! at a concurrent read: the generator mostly reads streams without a read that may be
//! pending, one time in eight any stream, so that the cut is exercised), and 16,000 calls.
//!
//! Found: no bug. The first sweep (seeds 1 to 40, 3000 cases of up to 30 operations) found the
//! two `iter_n` / `iter_p` differences above, both deliberate (checked by hand against Lwt
//! 5.6.1), and two holes in the cuts (a lost failure that a `get_available` or a canceled read
//! started; a `parse` waiting on its parser's callback counted as waiting for an element); the
//! callbacks' actions, added later, three more (the two cuts just above, and the generators'
//! calls of two families compared in one order). Then seeds 1 to 80 with 6000 cases of up to 30
//! operations, and 1 to 20 with 3000 of up to 60, agree. Injected bugs it catches: `iter_n`
//! running one callback too many (case 116), `map_list` losing the second element of a list (case
//! 25), `parse` not rewinding a failed parser (case 80).
//!
//! When `ocamlfind` or the `lwt` package is missing, the test prints a skip message and passes.
//! `OCAML_DIFF_STREAM_CASES` (default 6000, about a second), `OCAML_DIFF_STREAM_SEED`
//! (default 1) and `OCAML_DIFF_STREAM_MAX_OPS` (the longest program, default 30 operations) set
//! the run;
//! `OCAML_DIFF_STREAM_KEEP_GOING=1` reports every failing case (shrunk) instead of stopping at
//! the first; `OCAML_DIFF_STREAM_CASE=<n>` only prints case `n`, in `lwt_diff_stream.ml`'s
//! format, which can be fed to the compiled interpreter (`target/tmp/lwt_diff_stream/`).
//! Run: `cargo test -p lwt-core --test ocaml_diff_stream -- --nocapture`.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;
#[path = "support/slot_state.rs"]
mod slot_state;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use fuzz::{env, Rng};
use lwt_core::stream::{self, Push, Stream};
use lwt_core::{wait, Exn, Failure, Panicked, Promise, Resolver, State};
use slot_state::{parse_st, st_text, St};

// ------------------------------------------------------------------------------------------------
// Programs
// ------------------------------------------------------------------------------------------------

/// Values stay below this, on both sides (OCaml's `int` is 63 bits).
const MD: i64 = 1_000_003;

/// Streams a program may make (roots and derived ones).
const STREAMS: usize = 6;

fn combine(values: &[i64]) -> i64 {
    values.iter().fold(7, |acc, v| (acc * 131 + v) % MD)
}

/// What `map_list` & co. make of an element: one to three outcomes by its remainder, so that
/// empty lists (skipped) and longer ones (buffered) both occur.
fn lst(v: i64) -> Vec<i64> {
    match v.rem_euclid(3) {
        0 => vec![],
        1 => vec![v],
        _ => vec![v, v + 500],
    }
}

/// A `from` generator's answer to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// `Some x` at once.
    Val(i64),
    /// `None` at once.
    End,
    /// A rejected promise.
    Fail(u32),
    /// A raise (a panic here) at the call.
    Raise(u32),
    /// A pending callback promise of the generator's owner ([`Owner::Gen`]), of `wait()` or of
    /// `task()` (the flag).
    Wait(bool),
}

/// How an `_s` callback answers: a pending callback promise (of `wait()`, or of `task()`,
/// which a cancel of the consumer reaches), `x` at once, or when `x % 4 == 0` a failure at once
/// (`x` otherwise), or a raise (a panic here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    W,
    T,
    V,
    F,
    R,
}

impl Mode {
    /// Whether the callback's promise is pending, resolved by a later operation.
    fn pends(self) -> bool {
        matches!(self, Mode::W | Mode::T)
    }

    /// Whether the callback fails on `x`.
    fn fails(self, x: i64) -> bool {
        matches!(self, Mode::F | Mode::R) && x % 4 == 0
    }
}

/// A stream derived from another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Der {
    /// `map enc (wrap_exn s)`: see [`enc`].
    Wrap,
    MapList,
    /// With callbacks of [`Owner::MapS`].
    MapListS(Mode),
    /// `flatten (map lst s)`.
    Flatten,
}

/// A consumer storing its result in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cons {
    /// The flag: `f` raises (panics) when `x % 4 == 0`, as for `iter`.
    Fold(bool),
    FoldS(Mode),
    /// `find (x >= t)`.
    Find(i64),
    /// `find_map (Some (x + 1000) if x >= t)`.
    FindMap(i64),
    FindS(Mode),
    FindMapS(Mode),
    Iter(bool),
    IterS(Mode),
    IterP(Mode),
    IterN(usize, Mode),
    ToList,
    /// A parser that takes `nget n` and then waits on a callback promise (mode `W` or `T`).
    Parse(usize, Mode),
    /// A parser that takes `nget n`, then parses again inside: `nget 1` and the callback (as
    /// `Parse`); if the inner parse fails (rewound), it takes `nget 1` again and fails with 9
    /// unless that element's combination is even. So both rewinds, nested, occur.
    ParseNested(usize, Mode),
}

/// Whose callback promises a [`Op::CbWake`] resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The `from` generator of this stream.
    Gen(usize),
    /// The consumer in this slot.
    Cons(usize),
    /// The `map_list_s` stream with this number.
    MapS(usize),
}

impl Owner {
    fn text(self) -> String {
        match self {
            Owner::Gen(s) => format!("g{s}"),
            Owner::Cons(d) => format!("c{d}"),
            Owner::MapS(t) => format!("m{t}"),
        }
    }
}

/// What a consumer's callback does at its first call, before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// A push to a `create` stream (`Closed` ignored).
    Push(usize, i64),
    Close(usize),
    /// A cancel of a slot (the consumer's own, too).
    Cancel(usize),
    /// Fulfills the oldest pending callback promise of the owner with the value (`CR o 0 v`).
    Wake(Owner, i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    NewPush(usize),
    From(usize, Vec<Answer>),
    OfList(usize, Vec<i64>),
    /// Stream `t` derived from stream `s`.
    Derive(usize, usize, Der),
    Push(usize, i64),
    Close(usize),
    Get(usize, usize),
    Peek(usize, usize),
    GetAvailable(usize),
    IsClosed(usize),
    /// A consumer of stream `s` into slot `d`.
    Consume(usize, usize, Cons),
    /// The callback of the consumer into slot `d` (made next) acts first at its first call.
    OnCall(usize, Act),
    /// Resolves the `j`-th oldest callback promise of the owner still pending: fulfilled with
    /// the value, or rejected with that failure.
    CbWake(Owner, usize, Result<i64, u32>),
    Cancel(usize),
}

#[derive(Clone, Debug)]
struct Prog {
    slots: usize,
    ops: Vec<Op>,
}

fn mode_text(m: Mode) -> &'static str {
    match m {
        Mode::W => "w",
        Mode::T => "t",
        Mode::V => "v",
        Mode::F => "f",
        Mode::R => "r",
    }
}

fn list_or_dash<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.iter().map(f).collect::<Vec<_>>().join(",")
    }
}

fn op_text(op: &Op) -> String {
    match op {
        Op::NewPush(s) => format!("NS {s}"),
        Op::From(s, script) => {
            let words = list_or_dash(script, |a| match a {
                Answer::Val(x) => format!("v{x}"),
                Answer::End => "e".into(),
                Answer::Fail(n) => format!("f{n}"),
                Answer::Raise(n) => format!("r{n}"),
                Answer::Wait(false) => "w".into(),
                Answer::Wait(true) => "t".into(),
            });
            format!("FR {s} {words}")
        }
        Op::OfList(s, xs) => format!("OL {s} {}", list_or_dash(xs, i64::to_string)),
        Op::Derive(t, s, d) => {
            let k = match d {
                Der::Wrap => "WX",
                Der::MapList => "MA",
                Der::MapListS(m) => return format!("MS {t} {s} {}", mode_text(*m)),
                Der::Flatten => "FT",
            };
            format!("{k} {t} {s}")
        }
        Op::Push(s, x) => format!("PU {s} {x}"),
        Op::Close(s) => format!("CL {s}"),
        Op::Get(d, s) => format!("GT {d} {s}"),
        Op::Peek(d, s) => format!("PK {d} {s}"),
        Op::GetAvailable(s) => format!("GA {s}"),
        Op::IsClosed(s) => format!("SQ {s}"),
        Op::Consume(d, s, c) => match *c {
            Cons::Fold(r) => format!("FO {d} {s} {}", if r { "r" } else { "-" }),
            Cons::FoldS(m) => format!("FS {d} {s} {}", mode_text(m)),
            Cons::Find(t) => format!("FD {d} {s} {t}"),
            Cons::FindMap(t) => format!("FM {d} {s} {t}"),
            Cons::FindS(m) => format!("FN {d} {s} {}", mode_text(m)),
            Cons::FindMapS(m) => format!("FP {d} {s} {}", mode_text(m)),
            Cons::Iter(r) => format!("IT {d} {s} {}", if r { "r" } else { "-" }),
            Cons::IterS(m) => format!("IS {d} {s} {}", mode_text(m)),
            Cons::IterP(m) => format!("IP {d} {s} {}", mode_text(m)),
            Cons::IterN(n, m) => format!("IN {d} {s} {n} {}", mode_text(m)),
            Cons::ToList => format!("TL {d} {s}"),
            Cons::Parse(n, m) => format!("PA {d} {s} {n} {}", mode_text(m)),
            Cons::ParseNested(n, m) => format!("PN {d} {s} {n} {}", mode_text(m)),
        },
        Op::CbWake(o, j, Ok(v)) => format!("CR {} {j} {v}", o.text()),
        Op::CbWake(o, j, Err(n)) => format!("CF {} {j} {n}", o.text()),
        Op::Cancel(d) => format!("X {d}"),
        Op::OnCall(d, Act::Push(u, v)) => format!("AC {d} P {u} {v}"),
        Op::OnCall(d, Act::Close(u)) => format!("AC {d} C {u}"),
        Op::OnCall(d, Act::Cancel(e)) => format!("AC {d} X {e}"),
        Op::OnCall(d, Act::Wake(o, v)) => format!("AC {d} W {} {v}", o.text()),
    }
}

fn prog_text(p: &Prog) -> String {
    let mut s = format!("prog {}\n", p.slots);
    for op in &p.ops {
        s.push_str(&op_text(op));
        s.push('\n');
    }
    s.push_str("end\n");
    s
}

/// The family of every stream (the root it was derived from), as the program makes them.
fn families(p: &Prog) -> [usize; STREAMS] {
    let mut fam: [usize; STREAMS] = std::array::from_fn(|s| s);
    for op in &p.ops {
        if let Op::Derive(t, s, _) = *op {
            fam[t] = fam[s];
        }
    }
    fam
}

/// The stream an operation reads (a read, a consumer, `get_available`), and the slot it makes.
fn read_of(op: &Op) -> Option<(usize, Option<usize>)> {
    match *op {
        Op::Get(d, s) | Op::Peek(d, s) | Op::Consume(d, s, _) => Some((s, Some(d))),
        Op::GetAvailable(s) => Some((s, None)),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------------------
// The generator
// ------------------------------------------------------------------------------------------------

struct Gen<'a> {
    rng: &'a mut Rng,
    slots: usize,
    /// Streams made, and whether each is a `create` one (pushes go there), and whether it was
    /// derived from (then it is no longer read directly, only through the derived stream, so
    /// that the derived stream is its only reader).
    made: Vec<usize>,
    pushed: Vec<bool>,
    sealed: Vec<bool>,
    /// Streams made by `from`, not yet derived from.
    froms: Vec<usize>,
    /// Owners of callback promises.
    owners: Vec<Owner>,
    /// The streams read since they last ended or their read was canceled, which may have a
    /// read pending: a read while one is pending is cut ([`cuts`]), so new reads mostly go
    /// elsewhere. And the stream each slot reads.
    busy: Vec<bool>,
    slot_stream: Vec<usize>,
    /// The consumer to emit after its [`Op::OnCall`].
    next: Option<Op>,
}

impl Gen<'_> {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn value(&mut self) -> i64 {
        self.below(100) as i64
    }

    fn exn(&mut self) -> u32 {
        1 + self.below(9) as u32
    }

    /// A slot for a read of stream `s`.
    fn new_slot(&mut self, s: usize) -> usize {
        self.slots += 1;
        self.slot_stream.push(s);
        self.busy[s] = true;
        self.slots - 1
    }

    fn mode(&mut self) -> Mode {
        match self.below(8) {
            0..=1 => Mode::W,
            2 => Mode::T,
            3..=4 => Mode::V,
            5 => Mode::F,
            _ => Mode::R,
        }
    }

    fn script(&mut self) -> Vec<Answer> {
        let n = self.below(6);
        (0..n)
            .map(|_| match self.below(20) {
                0..=7 => Answer::Val(self.value()),
                8..=11 => Answer::Wait(false),
                12..=13 => Answer::Wait(true),
                14 => Answer::End,
                15..=17 => Answer::Fail(self.exn()),
                _ => Answer::Raise(self.exn()),
            })
            .collect()
    }

    fn new_stream(&mut self) -> Option<Op> {
        let s = self.made.len();
        if s >= STREAMS {
            return None;
        }
        self.made.push(s);
        self.sealed.push(false);
        self.busy.push(false);
        let op = match self.below(3) {
            0 => Op::NewPush(s),
            1 => {
                self.froms.push(s);
                self.owners.push(Owner::Gen(s));
                Op::From(s, self.script())
            }
            _ => {
                let n = self.below(5);
                Op::OfList(s, (0..n).map(|_| self.value()).collect())
            }
        };
        self.pushed.push(matches!(op, Op::NewPush(_)));
        Some(op)
    }

    /// A stream that may be read: one not derived from, and mostly one without a read that may
    /// be pending.
    fn readable(&mut self) -> Option<usize> {
        let any = self.below(8) == 0;
        let open: Vec<usize> = (0..self.made.len())
            .filter(|&s| !self.sealed[s] && (any || !self.busy[s]))
            .collect();
        if open.is_empty() {
            return None;
        }
        Some(open[self.below(open.len() as u64) as usize])
    }

    fn derive(&mut self) -> Option<Op> {
        if self.made.len() >= STREAMS {
            return None;
        }
        // `wrap_exn` over a `from` most often: its failures are what it is for.
        let s = if !self.froms.is_empty() && self.below(2) == 0 {
            let i = self.below(self.froms.len() as u64) as usize;
            self.froms[i]
        } else {
            self.readable()?
        };
        // Mostly not over a stream a read may be pending on (the derived stream's reads would
        // be concurrent with it).
        if self.sealed[s] || (self.busy[s] && self.below(8) != 0) {
            return None;
        }
        let is_from = self.froms.contains(&s);
        let t = self.made.len();
        self.made.push(t);
        self.sealed.push(false);
        self.busy.push(false);
        self.pushed.push(false);
        self.sealed[s] = true;
        self.froms.retain(|&f| f != s);
        let d = match self.below(if is_from { 6 } else { 4 }) {
            0 => Der::MapList,
            1 => {
                let m = self.mode();
                if m.pends() {
                    self.owners.push(Owner::MapS(t));
                }
                Der::MapListS(m)
            }
            2 => Der::Flatten,
            _ => Der::Wrap,
        };
        Some(Op::Derive(t, s, d))
    }

    fn consumer(&mut self) -> Cons {
        match self.below(24) {
            0..=1 => Cons::Fold(self.below(3) == 0),
            2..=3 => Cons::FoldS(self.mode()),
            4 => Cons::Find(self.value()),
            5 => Cons::FindMap(self.value()),
            6..=7 => Cons::FindS(self.mode()),
            8..=9 => Cons::FindMapS(self.mode()),
            10..=11 => Cons::Iter(self.below(3) == 0),
            12..=13 => Cons::IterS(self.mode()),
            14..=16 => Cons::IterP(self.mode()),
            17..=19 => Cons::IterN(1 + self.below(3) as usize, self.mode()),
            20..=21 => Cons::ToList,
            _ => {
                let m = if self.below(3) == 0 { Mode::T } else { Mode::W };
                if self.below(2) == 0 {
                    Cons::Parse(self.below(4) as usize, m)
                } else {
                    Cons::ParseNested(self.below(3) as usize, m)
                }
            }
        }
    }

    /// What a callback does first: a push, a close, a cancel (of a recent slot, up to the
    /// consumer's own, `d`), a wakeup of a callback promise.
    fn act(&mut self, d: usize) -> Option<Act> {
        let pushed: Vec<usize> = (0..self.made.len()).filter(|&s| self.pushed[s]).collect();
        Some(match self.below(5) {
            3 if !self.owners.is_empty() => {
                let i = self.below(self.owners.len() as u64) as usize;
                let o = self.owners[i];
                Act::Wake(o, self.value())
            }
            0 | 1 if !pushed.is_empty() => {
                let u = pushed[self.below(pushed.len() as u64) as usize];
                Act::Push(u, self.value())
            }
            2 if !pushed.is_empty() => {
                let u = pushed[self.below(pushed.len() as u64) as usize];
                self.busy[u] = false;
                Act::Close(u)
            }
            _ => Act::Cancel(d - self.below((d as u64 + 1).min(3)) as usize),
        })
    }

    fn op(&mut self) -> Op {
        if let Some(op) = self.next.take() {
            return op;
        }
        loop {
            let k = self.below(100);
            let op = match k {
                0..=5 => self.new_stream(),
                6..=11 => self.derive(),
                12..=29 => {
                    let pushed: Vec<usize> =
                        (0..self.made.len()).filter(|&s| self.pushed[s]).collect();
                    if pushed.is_empty() {
                        None
                    } else {
                        let s = pushed[self.below(pushed.len() as u64) as usize];
                        Some(if self.below(8) == 0 {
                            self.busy[s] = false;
                            Op::Close(s)
                        } else {
                            Op::Push(s, self.value())
                        })
                    }
                }
                30..=49 => self.readable().map(|s| {
                    let d = self.new_slot(s);
                    let c = self.consumer();
                    let w = match c {
                        Cons::FoldS(m)
                        | Cons::FindS(m)
                        | Cons::FindMapS(m)
                        | Cons::IterS(m)
                        | Cons::IterP(m)
                        | Cons::IterN(_, m) => m.pends(),
                        Cons::Parse(..) | Cons::ParseNested(..) => true,
                        _ => false,
                    };
                    if w {
                        self.owners.push(Owner::Cons(d));
                    }
                    let called = !matches!(
                        c,
                        Cons::Fold(_) | Cons::Find(_) | Cons::FindMap(_) | Cons::ToList
                    );
                    match self.act(d).filter(|_| called && self.below(3) == 0) {
                        Some(a) => {
                            self.next = Some(Op::Consume(d, s, c));
                            Op::OnCall(d, a)
                        }
                        None => Op::Consume(d, s, c),
                    }
                }),
                50..=57 => self.readable().map(|s| {
                    let d = self.new_slot(s);
                    if self.below(3) == 0 {
                        Op::Peek(d, s)
                    } else {
                        Op::Get(d, s)
                    }
                }),
                58..=61 => self.readable().map(Op::GetAvailable),
                62..=63 => self.readable().map(Op::IsClosed),
                64..=89 if !self.owners.is_empty() => {
                    // The newest owners most often.
                    let n = self.owners.len() as u64;
                    let i = if self.below(2) == 0 {
                        n - 1 - self.below(n.min(2))
                    } else {
                        self.below(n)
                    };
                    let o = self.owners[i as usize];
                    let j = if self.below(3) == 0 { self.below(3) } else { 0 } as usize;
                    let r = match self.below(8) {
                        0..=1 => Err(self.exn()),
                        2 if matches!(o, Owner::Gen(_)) => Ok(-1),
                        _ => Ok(self.value()),
                    };
                    Some(Op::CbWake(o, j, r))
                }
                90..=99 if self.slots > 0 => {
                    let n = self.slots as u64;
                    let d = (n - 1 - self.below(n.min(3))) as usize;
                    self.busy[self.slot_stream[d]] = false;
                    Some(Op::Cancel(d))
                }
                _ => None,
            };
            if let Some(op) = op {
                return op;
            }
        }
    }
}

/// A program: one or two streams, then 3 to `max_ops` operations.
fn generate(rng: &mut Rng, max_ops: u64) -> Prog {
    let len = 3 + rng.below(max_ops.max(3) - 2) as usize;
    let mut g = Gen {
        rng,
        slots: 0,
        made: Vec::new(),
        pushed: Vec::new(),
        sealed: Vec::new(),
        froms: Vec::new(),
        owners: Vec::new(),
        busy: Vec::new(),
        slot_stream: Vec::new(),
        next: None,
    };
    let mut ops = Vec::new();
    for _ in 0..1 + g.below(2) {
        ops.extend(g.new_stream());
    }
    for _ in 0..len {
        let op = g.op();
        ops.push(op);
    }
    Prog {
        slots: g.slots,
        ops,
    }
}

// ------------------------------------------------------------------------------------------------
// Outcomes
// ------------------------------------------------------------------------------------------------

fn exn_text(e: &Exn) -> String {
    if e.is_canceled() {
        "C".into()
    } else if e.is::<stream::Closed>() {
        "closed".into()
    } else if e.is::<stream::Empty>() {
        "empty".into()
    } else if let Some(n) = e
        .downcast_ref::<Failure>()
        .and_then(|f| f.0.parse::<u32>().ok())
    {
        n.to_string()
    } else if let Some(n) = e
        .downcast_ref::<Panicked>()
        .and_then(|p| p.message().strip_prefix("raise ")?.parse::<u32>().ok())
    {
        // A panic of ours is OCaml's `raise (Fail n)`.
        n.to_string()
    } else {
        format!("?{}", e.to_string().replace([' ', '\n'], "_"))
    }
}

/// `wrap_exn`'s elements as `lwt_diff_stream.ml` numbers them.
fn enc(r: Result<i64, Exn>) -> i64 {
    match r {
        Ok(x) => x,
        Err(e) => match exn_text(&e).parse::<i64>() {
            Ok(n) => 10000 + n,
            Err(_) if e.is_canceled() => 20000,
            Err(_) => 30000,
        },
    }
}

/// What one side reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Report {
    /// The states of every slot after each operation.
    steps: Vec<Vec<St>>,
    /// What the query at each operation saw.
    queries: Vec<(usize, String)>,
    /// The callback and generator calls, in the order they ran: operation, family, what.
    calls: Vec<(usize, usize, String)>,
    escaped: Option<String>,
    /// The operations whose `CbWake` found its callback promise (the crate's side).
    woke: Vec<usize>,
}

// ------------------------------------------------------------------------------------------------
// The crate's side
// ------------------------------------------------------------------------------------------------

enum Chan {
    Pushed(Stream<i64>, Push<i64>),
    Plain(Stream<i64>),
}

impl Chan {
    fn stream(&self) -> &Stream<i64> {
        match self {
            Chan::Pushed(s, _) | Chan::Plain(s) => s,
        }
    }
}

#[derive(Default)]
struct World {
    slots: Vec<Option<Promise<i64>>>,
    streams: Vec<Option<Rc<Chan>>>,
    family: [usize; STREAMS],
    queries: Vec<(usize, String)>,
    /// The operation running.
    cur: usize,
    calls: Vec<(usize, usize, String)>,
    woke: Vec<usize>,
    /// The callback promises of each owner, `None` once resolved.
    cbs: Vec<(Owner, Vec<Option<Resolver<i64>>>)>,
    /// What the first call of each consumer's callback does ([`Op::OnCall`]), until it is made.
    acts: Vec<(usize, Act)>,
}

/// The world, shared with the callbacks. No borrow of it is held while the crate runs.
#[derive(Clone, Default)]
struct Real(Rc<RefCell<World>>);

impl Real {
    fn chan(&self, s: usize) -> Option<Rc<Chan>> {
        self.0.borrow().streams.get(s).cloned().flatten()
    }

    fn call(&self, fam: usize, what: String) {
        let mut w = self.0.borrow_mut();
        let k = w.cur;
        w.calls.push((k, fam, what));
    }

    fn pending(&self, o: Owner, task: bool) -> Promise<i64> {
        let (p, r) = if task { lwt_core::task() } else { wait() };
        let mut w = self.0.borrow_mut();
        match w.cbs.iter_mut().find(|(o2, _)| *o2 == o) {
            Some((_, rs)) => rs.push(Some(r)),
            None => w.cbs.push((o, vec![Some(r)])),
        }
        p
    }

    /// The action of the consumer into slot `d`, at its callback's first call.
    fn act_first(&self, d: usize) {
        let a = {
            let mut w = self.0.borrow_mut();
            let i = w.acts.iter().position(|(d2, _)| *d2 == d);
            i.map(|i| w.acts.remove(i).1)
        };
        match a {
            Some(Act::Push(u, v)) => {
                if let Some(ch) = self.chan(u) {
                    if let Chan::Pushed(_, push) = &*ch {
                        let _ = push.push(v);
                    }
                }
            }
            Some(Act::Close(u)) => {
                if let Some(ch) = self.chan(u) {
                    if let Chan::Pushed(_, push) = &*ch {
                        push.close();
                    }
                }
            }
            Some(Act::Cancel(e)) => {
                let p = self.0.borrow().slots.get(e).cloned().flatten();
                if let Some(p) = p {
                    p.cancel();
                }
            }
            Some(Act::Wake(o, v)) => {
                self.wake(o, 0, Ok(v));
            }
            None => {}
        }
    }

    /// Resolves the `j`-th oldest pending callback promise of `o`; whether there was one.
    fn wake(&self, o: Owner, j: usize, r: Result<i64, u32>) -> bool {
        let res = {
            let mut w = self.0.borrow_mut();
            w.cbs
                .iter_mut()
                .find(|(o2, _)| *o2 == o)
                .and_then(|(_, rs)| {
                    rs.iter_mut()
                        .filter(|r| r.is_some())
                        .nth(j)
                        .and_then(Option::take)
                })
        };
        let Some(res) = res else { return false };
        match r {
            Ok(v) => res.wakeup(v),
            Err(n) => res.wakeup_exn(Exn::failure(n.to_string())),
        }
        true
    }

    /// A callback of `o` called on `x`: logged, acting first at the first call of a consumer's,
    /// and answering by `mode`.
    fn callback(&self, o: Owner, fam: usize, mode: Mode, x: i64) -> Promise<i64> {
        self.call(fam, format!("cb {} {x}", o.text()));
        if let Owner::Cons(d) = o {
            self.act_first(d);
        }
        match mode {
            Mode::W => self.pending(o, false),
            Mode::T => self.pending(o, true),
            Mode::V => Promise::ret(x),
            Mode::F if x % 4 == 0 => Promise::fail_with((x % 9 + 1).to_string()),
            Mode::R if x % 4 == 0 => panic!("raise {}", x % 9 + 1),
            Mode::F | Mode::R => Promise::ret(x),
        }
    }

    /// The `from` generator of stream `s`, answering by `script`.
    fn generator(&self, s: usize, script: Vec<Answer>) -> impl FnMut() -> Promise<Option<i64>> {
        let real = self.clone();
        let mut k = 0;
        move || {
            let a = script.get(k).copied().unwrap_or(Answer::Wait(false));
            real.call(s, format!("gen {k}"));
            k += 1;
            match a {
                Answer::Wait(t) => real
                    .pending(Owner::Gen(s), t)
                    .map(|v| (v >= 0).then_some(v)),
                Answer::Val(x) => Promise::ret(Some(x)),
                Answer::End => Promise::ret(None),
                Answer::Fail(n) => Promise::fail_with(n.to_string()),
                Answer::Raise(n) => panic!("raise {n}"),
            }
        }
    }

    fn op(&self, k: usize, op: &Op) {
        let fam = |s: usize| self.0.borrow().family[s];
        let set = |d: usize, p: Promise<i64>| self.0.borrow_mut().slots[d] = Some(p);
        let put = |s: usize, fam: usize, c: Chan| {
            let mut w = self.0.borrow_mut();
            w.family[s] = fam;
            w.streams[s] = Some(Rc::new(c));
        };
        match op {
            Op::NewPush(s) => {
                let (st, push) = stream::create();
                put(*s, *s, Chan::Pushed(st, push));
            }
            Op::From(s, script) => {
                let st = stream::from(self.generator(*s, script.clone()));
                put(*s, *s, Chan::Plain(st));
            }
            Op::OfList(s, xs) => put(*s, *s, Chan::Plain(stream::of_list(xs.clone()))),
            Op::Derive(t, s, d) => {
                let Some(ch) = self.chan(*s) else { return };
                let (t, f) = (*t, fam(*s));
                let src = ch.stream();
                let st = match d {
                    Der::Wrap => src.wrap_exn().map(enc),
                    Der::MapList => src.map_list(lst),
                    Der::MapListS(m) => {
                        let (real, m) = (self.clone(), *m);
                        src.map_list_s(move |x| real.callback(Owner::MapS(t), f, m, x).map(lst))
                    }
                    Der::Flatten => src.map(lst).flatten(),
                };
                put(t, f, Chan::Plain(st));
            }
            Op::Push(s, x) => {
                if let Some(ch) = self.chan(*s) {
                    if let Chan::Pushed(_, push) = &*ch {
                        let text = match push.push(*x) {
                            Ok(()) => "ok",
                            Err(_) => "closed",
                        };
                        self.0.borrow_mut().queries.push((k, text.into()));
                    }
                }
            }
            Op::Close(s) => {
                if let Some(ch) = self.chan(*s) {
                    if let Chan::Pushed(_, push) = &*ch {
                        push.close();
                    }
                }
            }
            Op::Get(d, s) | Op::Peek(d, s) => {
                let Some(ch) = self.chan(*s) else { return };
                let p = if matches!(op, Op::Get(..)) {
                    ch.stream().get()
                } else {
                    ch.stream().peek()
                };
                set(*d, p.map(|x| x.unwrap_or(-1)));
            }
            Op::GetAvailable(s) => {
                let Some(ch) = self.chan(*s) else { return };
                let l = ch.stream().get_available();
                let items: Vec<String> = l.iter().map(i64::to_string).collect();
                let text = format!("[{}]", items.join(","));
                self.0.borrow_mut().queries.push((k, text));
            }
            Op::IsClosed(s) => {
                let Some(ch) = self.chan(*s) else { return };
                let text = ch.stream().is_closed().to_string();
                self.0.borrow_mut().queries.push((k, text));
            }
            Op::Consume(d, s, c) => {
                let Some(ch) = self.chan(*s) else { return };
                let st = ch.stream();
                let (d, f) = (*d, fam(*s));
                let o = Owner::Cons(d);
                let real = self.clone();
                let cb = move |m: Mode, x: i64| real.callback(o, f, m, x);
                let opt = |x: Option<i64>| x.unwrap_or(-1);
                let p = match *c {
                    Cons::Fold(r) => st.fold(7, move |acc, x| {
                        if r && x % 4 == 0 {
                            panic!("raise {}", x % 9 + 1);
                        }
                        (acc * 131 + x) % MD
                    }),
                    Cons::FoldS(m) => {
                        st.fold_s(7, move |acc, x| cb(m, x).map(move |v| (acc * 131 + v) % MD))
                    }
                    Cons::Find(t) => st.find(move |x| *x >= t).map(opt),
                    Cons::FindMap(t) => st.find_map(move |x| (x >= t).then_some(x + 1000)).map(opt),
                    Cons::FindS(m) => st.find_s(move |x| cb(m, *x).map(|v| v % 2 == 0)).map(opt),
                    Cons::FindMapS(m) => st
                        .find_map_s(move |x| cb(m, x).map(|v| (v % 3 != 0).then_some(v + 2000)))
                        .map(opt),
                    Cons::Iter(r) => {
                        let real = self.clone();
                        st.iter(move |x| {
                            real.call(f, format!("cb c{d} {x}"));
                            real.act_first(d);
                            if r && x % 4 == 0 {
                                panic!("raise {}", x % 9 + 1);
                            }
                        })
                        .map(|()| 0)
                    }
                    Cons::IterS(m) => st.iter_s(move |x| cb(m, x).map(|_| ())).map(|()| 0),
                    Cons::IterP(m) => st.iter_p(move |x| cb(m, x).map(|_| ())).map(|()| 0),
                    Cons::IterN(n, m) => st.iter_n(n, move |x| cb(m, x).map(|_| ())).map(|()| 0),
                    Cons::ToList => st.to_list().map(|l| combine(&l)),
                    Cons::Parse(n, m) => {
                        st.parse(move |s| s.nget(n).bind(move |l| cb(m, combine(&l))))
                    }
                    Cons::ParseNested(n, m) => {
                        // The parser's stream is this one: the closures keep it through `ch`.
                        let ch2 = ch.clone();
                        st.parse(move |s| {
                            s.nget(n).bind(move |l1| {
                                let ch3 = ch2.clone();
                                ch2.stream()
                                    .parse(move |s| {
                                        s.nget(1).bind(move |l2| {
                                            let l: Vec<i64> = l1.into_iter().chain(l2).collect();
                                            cb(m, combine(&l))
                                        })
                                    })
                                    .catch(move |_| {
                                        ch3.stream().nget(1).bind(|l| {
                                            let c = combine(&l);
                                            if c % 2 == 0 {
                                                Promise::ret(c)
                                            } else {
                                                Promise::fail_with("9")
                                            }
                                        })
                                    })
                            })
                        })
                    }
                };
                set(d, p);
            }
            Op::CbWake(o, j, r) => {
                if self.wake(*o, *j, *r) {
                    self.0.borrow_mut().woke.push(k);
                }
            }
            Op::Cancel(d) => {
                let p = self.0.borrow().slots.get(*d).cloned().flatten();
                if let Some(p) = p {
                    p.cancel();
                }
            }
            Op::OnCall(d, a) => self.0.borrow_mut().acts.push((*d, *a)),
        }
    }

    fn states(&self) -> Vec<St> {
        let w = self.0.borrow();
        w.slots
            .iter()
            .map(|p| match p.as_ref().map(Promise::state) {
                None => St::Absent,
                Some(State::Pending) => St::Pending,
                Some(State::Fulfilled(v)) => St::Ful(v),
                Some(State::Rejected(e)) => St::Rej(exn_text(&e)),
            })
            .collect()
    }
}

/// The generator's `raise` is a panic here: expected, so kept off the output.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if !text.is_some_and(|s| s.starts_with("raise ")) {
                default(info);
            }
        }));
    });
}

/// Runs a program on the crate.
fn run_crate(p: &Prog) -> Report {
    let real = Real::default();
    {
        let mut w = real.0.borrow_mut();
        w.slots = vec![None; p.slots];
        w.streams = vec![None; STREAMS];
    }
    let mut steps = Vec::new();
    for (k, op) in p.ops.iter().enumerate() {
        real.0.borrow_mut().cur = k;
        real.op(k, op);
        steps.push(real.states());
    }
    let report = Report {
        steps,
        queries: real.0.borrow().queries.clone(),
        calls: real.0.borrow().calls.clone(),
        escaped: None,
        woke: real.0.borrow().woke.clone(),
    };
    // Producers are dropped only now, after the states were read (dropping them closes, a
    // deliberate difference from Lwt). Emptying the world breaks the cycles through the
    // callbacks.
    let world = std::mem::take(&mut *real.0.borrow_mut());
    drop(world);
    report
}

// ------------------------------------------------------------------------------------------------
// Cuts: what a deliberate difference may decide
// ------------------------------------------------------------------------------------------------

/// From which operation on each family is no longer compared (`usize::MAX`: never cut), and why
/// (for the figures); see the module docs. Decided from the crate's states and calls (which are
/// compared up to the cut, so they are Lwt's there too), and from Lwt's "raised" queries.
fn cuts(p: &Prog, ours: &Report, lwt: &Report) -> ([usize; STREAMS], [&'static str; STREAMS]) {
    let fam = families(p);
    let mut cut = [usize::MAX; STREAMS];
    let mut why = [""; STREAMS];
    // The reads made so far: (family, slot).
    let mut reads: Vec<(usize, usize)> = Vec::new();
    let pending = |k: usize, d: usize| k > 0 && ours.steps[k - 1].get(d) == Some(&St::Pending);
    let mut cut_at = |f: usize, k: usize, reason: &'static str| {
        if k < cut[f] {
            (cut[f], why[f]) = (k, reason);
        }
    };
    for (k, op) in p.ops.iter().enumerate() {
        // A read while another read of the family is pending: reads are served in order here,
        // Lwt's each follow their own position (module docs, the first point).
        if let Some((s, slot)) = read_of(op) {
            let f = fam[s];
            if reads.iter().any(|&(f2, d)| f2 == f && pending(k, d)) {
                cut_at(f, k, "concurrent reads");
            }
            if let Some(d) = slot {
                reads.push((f, d));
            }
        }
        let woke = ours.woke.contains(&k);
        // Lwt's `get_available` raises a generator's failure and drops what it took; here it
        // returns them (README, a stream's generator failure).
        if let Op::GetAvailable(s) = *op {
            if raised_at(lwt, k) {
                cut_at(fam[s], k, "get_available raised");
            }
        }
        // A generator that raised at the call of an `iter_p` / `iter_n`: Lwt's call raises (the
        // interpreter makes it a rejection at once), leaving the callbacks it started running;
        // here the read's failure stops the reading, and the result is rejected once they are
        // done (module docs, the `iter_p` point).
        if let Op::Consume(_, s, Cons::IterP(_) | Cons::IterN(..)) = *op {
            if raised_at(lwt, k) {
                cut_at(fam[s], k, "iter_p/n raised");
            }
        }
        // The failures of the family's source in this operation: a generator's or `map_list_s`
        // callback's promise rejected (`CF`), a generator answering with a rejection or a raise.
        let failures: Vec<(usize, bool)> = match *op {
            Op::CbWake(Owner::Gen(s) | Owner::MapS(s), _, Err(_)) if woke => Some((fam[s], false)),
            _ => None,
        }
        .into_iter()
        .chain(ours.calls.iter().filter_map(|(k2, f, what)| {
            let j: usize = what.strip_prefix("gen ")?.parse().ok()?;
            let answer = p.ops.iter().find_map(|o| match o {
                Op::From(s, script) if fam[*s] == *f => script.get(j).copied(),
                _ => None,
            });
            match answer {
                Some(Answer::Fail(_)) if *k2 == k => Some((*f, false)),
                Some(Answer::Raise(_)) if *k2 == k => Some((*f, true)),
                _ => None,
            }
        }))
        .chain(ours.calls.iter().filter_map(|(k2, f, what)| {
            // A `map_list_s` callback failing at once.
            let (t, x) = what.strip_prefix("cb m")?.split_once(' ')?;
            let (t, x): (usize, i64) = (t.parse().ok()?, x.parse().ok()?);
            let m = p.ops.iter().find_map(|o| match *o {
                Op::Derive(t2, _, Der::MapListS(m)) if t2 == t => Some(m),
                _ => None,
            })?;
            (*k2 == k && m.fails(x)).then_some((*f, m == Mode::R))
        }))
        .collect();
        // Whether a consumer of family `f` matching `is` waits, or is made now.
        let waits = |f: usize, is: fn(&Cons) -> bool| {
            p.ops.iter().enumerate().any(|(k2, o)| {
                matches!(o, Op::Consume(d, s, c) if fam[*s] == f && is(c)
                    && (k2 == k || pending(k, *d)))
            })
        };
        for (f, raised) in failures {
            // While no read of the family waits for an element: Lwt loses the failure, here it
            // rejects the next read (module docs, "A generator failure is never lost"). A
            // consumer waiting on its callback's promise does not wait for an element (found at
            // seed 27: a `parse` waiting on its parser's callback, a generator call that a
            // `get_available` started, rejected).
            let read_waits = p.ops.iter().enumerate().any(|(k2, o)| {
                read_of(o).is_some_and(|(s, d)| {
                    fam[s] == f && d.is_some_and(|d| k2 == k || waiting(p, ours, k, d))
                })
            });
            if !read_waits {
                cut_at(f, k, "lost failure");
            }
            // A failed read of an `iter_n`: Lwt's rejects at once, leaving its running callbacks
            // unobserved; here, as for a failed callback, it rejects once they are done (the
            // `stream::drive::par` docs: "the first rejection (by element order) stops the reads
            // and rejects the result once the running callbacks are done"; the module docs, the
            // `iter_p` point, say it of callbacks). Pinned by
            // `iter_n_rejects_at_once_on_a_failed_read_in_lwt`.
            if waits(f, |c| matches!(c, Cons::IterN(..))) {
                cut_at(f, k, "iter_n failed read");
            }
            // A raise in a generator that an `iter_p` called: the exception escapes Lwt's
            // `iter_p_rec` (it is not a rejected promise) and rejects the result at once, its
            // running callbacks left; here the panic is a rejected read (README, the point on
            // panics), and the result is rejected once they are done, as for a rejected read,
            // which Lwt's `iter_p` waits for them on too. Pinned by
            // `iter_p_rejects_at_once_on_a_raising_generator_in_lwt`.
            if raised && waits(f, |c| matches!(c, Cons::IterP(_))) {
                cut_at(f, k, "iter_p raised read");
            }
        }
        // `iter_p` / `iter_n` canceled, or once a callback failed (module docs, `iter_p`).
        if let Op::Cancel(d) = *op {
            for op2 in &p.ops {
                if let Op::Consume(d2, s, Cons::IterP(_) | Cons::IterN(..)) = *op2 {
                    if d2 == d && pending(k, d) {
                        cut_at(fam[s], k, "iter_p/n canceled");
                    }
                }
            }
        }
        if let Op::CbWake(Owner::Cons(d), _, Err(_)) = *op {
            for op2 in &p.ops {
                if let Op::Consume(d2, s, Cons::IterP(_) | Cons::IterN(..)) = *op2 {
                    if d2 == d && woke {
                        cut_at(fam[s], k, "iter_p/n callback failed");
                    }
                }
            }
        }
    }
    // A cancel of an `iter_p` / `iter_n` from a callback (an `OnCall` action), at the operation
    // of the callback's first call: as a cancel above, and from inside its own `f`, Lwt's does
    // nothing (module docs, the `iter_p` point).
    for op in &p.ops {
        if let Op::OnCall(d, Act::Cancel(e)) = *op {
            let prefix = format!("cb c{d} ");
            let first = ours.calls.iter().find(|c| c.2.starts_with(&prefix));
            for op2 in &p.ops {
                if let (Some((k, ..)), Op::Consume(e2, s, Cons::IterP(_) | Cons::IterN(..))) =
                    (first, op2)
                {
                    let f = fam[*s];
                    if *e2 == e && *k < cut[f] {
                        (cut[f], why[f]) = (*k, "iter_p/n canceled");
                    }
                }
            }
        }
    }
    // A callback of `iter_p` / `iter_n` that failed at once (mode `f` or `r` on a multiple of 4).
    // (Before the cascade below.)
    for (k, f, what) in &ours.calls {
        for op in &p.ops {
            if let Op::Consume(d, _, Cons::IterP(m) | Cons::IterN(_, m)) = *op {
                let x = what
                    .strip_prefix(&format!("cb c{d} "))
                    .and_then(|x| x.parse::<i64>().ok());
                if x.is_some_and(|x| m.fails(x)) && *k < cut[*f] {
                    (cut[*f], why[*f]) = (*k, "iter_p/n callback failed");
                }
            }
        }
    }
    // A consumer's action (`OnCall`) on another family: once the consumer's family is cut
    // before the action ran (here), whether and when it runs in Lwt is not known, so the family
    // it acts on is cut from there too (found at seed 1 and 10 when actions came in: a
    // concurrent read, a lost failure or a raising `get_available` changed which callbacks ran,
    // and a push, close or cancel of theirs reached a stream compared to the end). Repeated
    // until nothing changes, for chains.
    loop {
        let mut changed = false;
        for op in &p.ops {
            let Op::OnCall(d, a) = *op else { continue };
            let Some(f) = slot_family(p, &fam, d) else {
                continue;
            };
            let prefix = format!("cb c{d} ");
            let ran = ours
                .calls
                .iter()
                .find(|c| c.2.starts_with(&prefix))
                .map(|c| c.0);
            let target = match a {
                Act::Push(u, _) | Act::Close(u) => Some(fam[u]),
                Act::Cancel(e) | Act::Wake(Owner::Cons(e), _) => slot_family(p, &fam, e),
                Act::Wake(Owner::Gen(s) | Owner::MapS(s), _) => Some(fam[s]),
            };
            if let Some(g) = target {
                if cut[f] < cut[g] && ran.is_none_or(|k| k >= cut[f]) {
                    (cut[g], why[g]) = (cut[f], "a cut consumer's action");
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // A stream closed again by a callback of its own close (a consumer's action whose first
    // call the close runs): Lwt 5.6.1's inner close succeeds and the outer one raises
    // `Invalid_argument "Lwt.wakeup"`, which ends its run (a defect of Lwt's: found by
    // `ocaml_diff_sync`, `tests/ocaml/stream_reclose.ml`, pinned there by
    // `a_close_run_by_the_same_close_raises_in_lwt`; here the inner close does nothing). Nothing
    // is compared from that operation on (found at seed 1: `NS 1; AC 2 C 1; PA 2 1 2 t; CL 1`).
    if let Some(end) = reentrant_close(p, lwt) {
        for f in 0..STREAMS {
            if end < cut[f] {
                (cut[f], why[f]) = (end, "re-entrant close");
            }
        }
    }
    (cut, why)
}

/// The operation at which Lwt's defect (see [`cuts`]) showed, in a program where a consumer's
/// action closes a stream: its exception ended the run, or rejected a promise (the outer close
/// was itself an action, run by a callback whose promise catches it: seed 45,
/// `NS 1; NS 2; AC 0 C 1; PN 0 1 1 t; AC 1 C 1; PA 1 2 0 w`). The outer close may be an
/// operation's or an action's (seed 23, `NS 0; OL 1 33,37; AC 1 C 0; PA 1 0 2 w; AC 2 C 0;
/// IP 2 1 t`). Nothing else in these programs resolves a promise twice.
fn reentrant_close(p: &Prog, lwt: &Report) -> Option<usize> {
    const TEXT: &str = "Invalid_argument(\"Lwt.wakeup\")";
    if !p
        .ops
        .iter()
        .any(|a| matches!(*a, Op::OnCall(_, Act::Close(_))))
    {
        return None;
    }
    let rejected = St::Rej(format!("?{TEXT}"));
    let in_slot = lwt.steps.iter().position(|st| st.contains(&rejected));
    let escaped = (lwt.escaped.as_deref() == Some(TEXT)).then_some(lwt.steps.len());
    in_slot.into_iter().chain(escaped).min()
}

/// Whether the read that made slot `d` may wait for an element before operation `k`: pending,
/// and not waiting on a callback promise of its own (an `iter_p` or `iter_n` reads while its
/// callbacks run; one whose callback is resolved by operation `k` may read on).
fn waiting(p: &Prog, ours: &Report, k: usize, d: usize) -> bool {
    if k == 0 || ours.steps[k - 1].get(d) != Some(&St::Pending) {
        return false;
    }
    let w = p.ops.iter().find_map(|o| match *o {
        Op::Consume(d2, _, c) if d2 == d => Some(match c {
            Cons::FoldS(m) | Cons::FindS(m) | Cons::FindMapS(m) | Cons::IterS(m) => m.pends(),
            Cons::Parse(..) | Cons::ParseNested(..) => true,
            _ => false,
        }),
        _ => None,
    });
    if w != Some(true) || matches!(p.ops[k], Op::CbWake(Owner::Cons(d2), ..) if d2 == d) {
        return true;
    }
    let prefix = format!("cb c{d} ");
    let called = ours
        .calls
        .iter()
        .filter(|(k2, _, what)| *k2 < k && what.starts_with(&prefix))
        .count();
    let woken = ours
        .woke
        .iter()
        .filter(|&&k2| k2 < k && matches!(p.ops[k2], Op::CbWake(Owner::Cons(d2), ..) if d2 == d))
        .count();
    called == woken
}

/// Whether a generator raised at operation `k` on Lwt's side (the interpreter's query).
fn raised_at(lwt: &Report, k: usize) -> bool {
    lwt.queries
        .iter()
        .any(|(k2, q)| *k2 == k && q.starts_with("raised"))
}

// ------------------------------------------------------------------------------------------------
// The OCaml side
// ------------------------------------------------------------------------------------------------

/// Runs programs on Lwt, one process for all of them.
fn run_ocaml(exe: &Path, progs: &[&Prog]) -> Vec<Report> {
    let input: String = progs.iter().map(|p| prog_text(p)).collect();
    let text = ocaml::run(exe, input).unwrap_or_else(|failed| panic!("lwt_diff_stream: {failed}"));
    let mut reports = Vec::new();
    let mut r = Report::default();
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        match w[0] {
            "T" => r.steps.push(
                w[1..]
                    .iter()
                    .map(|s| {
                        let mut parts = s.split(':');
                        parse_st(parts.next().unwrap(), parts.next())
                    })
                    .collect(),
            ),
            "Q" => r.queries.push((w[1].parse().unwrap(), w[2..].join(" "))),
            "K" => r.calls.push((
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
                w[3..].join(" "),
            )),
            "E" => r.escaped = Some(w[1..].join(" ")),
            "done" => reports.push(std::mem::take(&mut r)),
            _ => panic!("lwt_diff_stream: unexpected line {line:?}"),
        }
    }
    assert_eq!(
        reports.len(),
        progs.len(),
        "lwt_diff_stream: a report per program"
    );
    reports
}

// ------------------------------------------------------------------------------------------------
// The comparison
// ------------------------------------------------------------------------------------------------

/// The family an operation concerns, if any.
fn op_family(p: &Prog, fam: &[usize; STREAMS], op: &Op) -> Option<usize> {
    match *op {
        Op::NewPush(s)
        | Op::From(s, _)
        | Op::OfList(s, _)
        | Op::Derive(s, ..)
        | Op::Push(s, _)
        | Op::Close(s)
        | Op::Get(_, s)
        | Op::Peek(_, s)
        | Op::GetAvailable(s)
        | Op::IsClosed(s)
        | Op::Consume(_, s, _) => Some(fam[s]),
        Op::CbWake(Owner::Gen(s) | Owner::MapS(s), ..) => Some(fam[s]),
        Op::CbWake(Owner::Cons(d), ..) | Op::Cancel(d) | Op::OnCall(d, _) => slot_family(p, fam, d),
    }
}

/// The family of the stream whose read made slot `d`.
fn slot_family(p: &Prog, fam: &[usize; STREAMS], d: usize) -> Option<usize> {
    p.ops.iter().find_map(|op| match *op {
        Op::Get(d2, s) | Op::Peek(d2, s) | Op::Consume(d2, s, _) if d2 == d => Some(fam[s]),
        _ => None,
    })
}

fn compare(p: &Prog, ours: &Report, lwt: &Report) -> Result<(), String> {
    let fam = families(p);
    let (cut, _) = cuts(p, ours, lwt);
    let mut diffs = String::new();
    if let Some(e) = lwt
        .escaped
        .as_ref()
        .filter(|_| reentrant_close(p, lwt).is_none())
    {
        writeln!(diffs, "an exception escaped on Lwt: {e}").unwrap();
    }
    // The first operation after which a slot differs.
    for i in 0..p.slots {
        let end = slot_family(p, &fam, i).map_or(usize::MAX, |f| cut[f]);
        let first = ours
            .steps
            .iter()
            .zip(&lwt.steps)
            .enumerate()
            .find(|(k, (a, b))| *k < end && a[i] != b[i]);
        if let Some((k, (a, b))) = first {
            writeln!(
                diffs,
                "slot {i} after operation {k} ({}): lwt-core {}, Lwt {}",
                op_text(&p.ops[k]),
                st_text(&a[i]),
                st_text(&b[i])
            )
            .unwrap();
        }
    }
    // A raise at a consumer's call, which the interpreter made a rejection, is said in a query
    // of Lwt's only: the rejection is compared in the slot.
    let kept = |r: &Report| -> Vec<(usize, String)> {
        r.queries
            .iter()
            .filter(|(k, q)| {
                !(q.starts_with("raised") && read_of(&p.ops[*k]).is_some_and(|(_, d)| d.is_some()))
            })
            .filter(|(k, _)| op_family(p, &fam, &p.ops[*k]).is_none_or(|f| *k < cut[f]))
            .cloned()
            .collect()
    };
    let (a, b) = (kept(ours), kept(lwt));
    if a != b {
        let k = a.iter().zip(&b).position(|(x, y)| x != y);
        let k = k.unwrap_or(a.len().min(b.len()));
        let (x, y) = (a.get(k), b.get(k));
        let at = x.or(y).map_or(0, |q| q.0);
        writeln!(
            diffs,
            "query at operation {at} ({}): lwt-core {:?}, Lwt {:?}",
            op_text(&p.ops[at]),
            x.map(|q| &q.1),
            y.map(|q| &q.1)
        )
        .unwrap();
    }
    // The calls that one operation makes on behalf of different owners run in the callback
    // order, which differs on purpose (README): each owner's calls in an operation are compared
    // in order.
    let calls = |r: &Report| -> Vec<(usize, usize, String)> {
        let mut kept: Vec<(usize, usize, String)> = r
            .calls
            .iter()
            .filter(|(k, f, _)| *k < cut[*f])
            .cloned()
            .collect();
        let owner = |c: &(usize, usize, String)| -> String {
            c.2.rsplit_once(' ')
                .map_or(String::new(), |(o, _)| o.to_string())
        };
        // A generator's calls are "gen <k>": its owner is the family's generator (found at seeds
        // 17, 20, 30 and 32: an action's wakeup made two generators answer in one operation).
        kept.sort_by_key(|c| (c.0, c.1, owner(c)));
        kept
    };
    let (a, b) = (calls(ours), calls(lwt));
    if a != b {
        let k = a.iter().zip(&b).position(|(x, y)| x != y);
        let k = k.unwrap_or(a.len().min(b.len()));
        let (x, y) = (a.get(k), b.get(k));
        let at = x.or(y).map_or(0, |c| c.0);
        let show = |c: Option<&(usize, usize, String)>| match c {
            Some((k, _, what)) => format!("{what:?} at operation {k}"),
            None => "nothing".into(),
        };
        writeln!(
            diffs,
            "call at operation {at} ({}): lwt-core {}, Lwt {}",
            op_text(&p.ops[at]),
            show(x),
            show(y)
        )
        .unwrap();
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

fn check_one(exe: &Path, p: &Prog) -> Result<(), String> {
    let ours = run_crate(p);
    let lwt = run_ocaml(exe, &[p]).pop().unwrap();
    compare(p, &ours, &lwt)
}

fn shrink(exe: &Path, p: Prog) -> (Prog, String) {
    let slots = p.slots;
    let rebuild = |ops: &[Op]| Prog {
        slots,
        ops: ops.to_vec(),
    };
    let (ops, why) = ocaml::shrink_explained(p.ops, |ops| check_one(exe, &rebuild(ops)));
    (rebuild(&ops), why)
}

#[test]
fn stream_consumers_agree_with_ocaml_lwt() {
    let Some(exe) = ocaml::interpreter("lwt_diff_stream", "lwt") else {
        eprintln!(
            "ocaml_diff_stream: SKIPPED: `ocamlfind query lwt` failed (OCaml and Lwt are needed)"
        );
        return;
    };
    quiet_panics();
    let cases = env("OCAML_DIFF_STREAM_CASES", 6000);
    let seed = env("OCAML_DIFF_STREAM_SEED", 1);
    let max_ops = env("OCAML_DIFF_STREAM_MAX_OPS", 30);
    let keep_going = env("OCAML_DIFF_STREAM_KEEP_GOING", 0) != 0;
    if let Ok(case) = std::env::var("OCAML_DIFF_STREAM_CASE") {
        // One case: print it, for a hand run of the interpreter.
        let p = generate(&mut Rng::for_case(seed, case.parse().unwrap()), max_ops);
        eprint!("{}", prog_text(&p));
        return;
    }
    let mut failures = Vec::new();
    let (mut compared, mut cut_slots, mut calls) = (0usize, 0usize, 0usize);
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    let chunk = 500;
    'chunks: for start in (0..cases).step_by(chunk as usize) {
        let progs: Vec<Prog> = (start..cases.min(start + chunk))
            .map(|c| generate(&mut Rng::for_case(seed, c), max_ops))
            .collect();
        let refs: Vec<&Prog> = progs.iter().collect();
        let lwt = run_ocaml(&exe, &refs);
        for (j, (p, lwt)) in progs.iter().zip(&lwt).enumerate() {
            let case = start + j as u64;
            let ours = run_crate(p);
            let (cut, why) = cuts(p, &ours, lwt);
            let fam = families(p);
            for d in 0..p.slots {
                match slot_family(p, &fam, d) {
                    Some(f) if cut[f] != usize::MAX => {
                        cut_slots += 1;
                        *reasons.entry(why[f]).or_insert(0) += 1;
                    }
                    _ => compared += 1,
                }
            }
            calls += ours.calls.iter().filter(|(k, f, _)| *k < cut[*f]).count();
            if let Err(e) = compare(p, &ours, lwt) {
                let (small, why) = shrink(&exe, p.clone());
                failures.push(ocaml::differing_case(
                    "ocaml_diff_stream",
                    case,
                    seed,
                    &e,
                    &prog_text(&small),
                    &why,
                ));
                if !keep_going {
                    break 'chunks;
                }
            }
        }
    }
    eprintln!(
        "ocaml_diff_stream: {cases} cases from seed {seed}: {compared} slots compared to the end, \
         {cut_slots} cut (compared up to their cut: {reasons:?}), {calls} calls compared, {} \
         differing",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// What the comparison found
// ------------------------------------------------------------------------------------------------
//
// Each was checked against Lwt 5.6.1 by hand, with a small OCaml program.

/// `FR 1 v53,f9,v98; IN 0 1 2 w` (found at case 681 of seed 1): `iter_n 2` over a `from`
/// stream whose second answer is a rejection. Lwt's `iter_n` takes 53, starts its callback
/// (pending), reads again, and its `get`'s rejection rejects the result at once, the callback
/// still running; here the failed read stops the reading and the result is rejected once the
/// running callback is done, as after a failed callback (`stream::drive::par`: "the first
/// rejection (by element order) stops the reads and rejects the result once the running
/// callbacks are done"; the module docs say it of callbacks). Lwt's `iter_p` waits for the
/// callback too (its chain `res >>= fun () -> rest`), as here.
#[test]
#[ignore = "differs from Lwt on purpose: iter_n rejects once the running callbacks are done"]
fn iter_n_rejects_at_once_on_a_failed_read_in_lwt() {
    let mut n = 0;
    let s = stream::from(move || {
        n += 1;
        if n == 1 {
            Promise::ret(Some(53))
        } else {
            Promise::fail_with("9")
        }
    });
    let (cb, r) = wait::<()>();
    let done = s.iter_n(2, move |_| cb.clone());
    let at_once = done.rejection().map(|e| exn_text(&e));
    r.wakeup(());
    assert_eq!(
        at_once.as_deref(),
        Some("9"),
        "Lwt: rejected with Fail 9 at once, the callback still running"
    );
}

/// What the crate does in the case above: the result waits for the running callback, then is
/// rejected with the read's failure; `iter_p` behaves the same, on both sides.
#[test]
fn iter_n_rejects_on_a_failed_read_once_its_callbacks_are_done() {
    for limit in [2, usize::MAX] {
        let mut n = 0;
        let s = stream::from(move || {
            n += 1;
            if n == 1 {
                Promise::ret(Some(53))
            } else {
                Promise::fail_with("9")
            }
        });
        let (cb, r) = wait::<()>();
        let done = if limit == usize::MAX {
            s.iter_p(move |_| cb.clone())
        } else {
            s.iter_n(limit, move |_| cb.clone())
        };
        assert!(done.is_pending(), "limit {limit}: waits for the callback");
        r.wakeup(());
        assert_eq!(exn_text(&done.rejection().unwrap()), "9", "limit {limit}");
    }
}

/// `FR 0 w,r7,v38; IP 0 0 w; CR g0 0 78` (found at case 49 of seed 30, and in seven other
/// seeds of the first sweep): `iter_p` takes 78 and starts its callback (pending), then reads
/// again, and the generator raises. In Lwt the exception escapes `iter_p_rec` inside the bind
/// callback that the wakeup of 78 ran, so the result is rejected with `Fail 7` at once, the
/// callback still running (for a generator that *rejects*, Lwt's `iter_p` waits for the callback,
/// as here). Here the panic is a rejected read (README, a panic in a callback rejects), and
/// `iter_p` rejects once its running callbacks are done (module docs, the `iter_p` point).
#[test]
#[ignore = "differs from Lwt on purpose: a panic is a rejection, iter_p waits for its callbacks"]
fn iter_p_rejects_at_once_on_a_raising_generator_in_lwt() {
    quiet_panics();
    let (first, r) = wait::<Option<i64>>();
    let mut first = Some(first);
    let s = stream::from(move || match first.take() {
        Some(p) => p,
        None => panic!("raise 7"),
    });
    let (cb, _cb_r) = wait::<()>();
    let done = s.iter_p(move |_| cb.clone());
    r.wakeup(Some(78));
    assert_eq!(
        done.rejection().map(|e| exn_text(&e)).as_deref(),
        Some("7"),
        "Lwt: rejected with Fail 7 at once, the callback still running"
    );
}
