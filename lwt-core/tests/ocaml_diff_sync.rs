//! A differential test of the synchronisation modules against real OCaml Lwt 5.6.1, built like
//! `ocaml_diff.rs`: random straight-line programs over a few `Mutex`es, `Condition`s, `Mvar`s and
//! streams (`stream::create` / `create_bounded`) and a pool of `i64` promises run on `lwt-core`
//! (interpreted here, in process) and on Lwt (`tests/ocaml/lwt_diff_sync.ml`, compiled once per
//! test process), and must agree on the state of every promise of the pool (pending, fulfilled
//! with which value, rejected with `Canceled`, `Closed`, `Full` or which numbered failure) after
//! every operation, on what every query saw, and on which `with_lock` bodies ran.
//!
//! The vocabulary (the program format is described in `lwt_diff_sync.ml`):
//!
//! * `Lwt_mutex` / [`Mutex`]: `lock`, `unlock`, `with_lock` (whose body returns a value, fails,
//!   returns a promise of the pool or a fresh `wait()` promise that a later `wakeup` resolves),
//!   `is_locked`, `is_empty`;
//! * `Lwt_condition` / [`Condition`]: `wait` with and without a mutex, `signal`, `broadcast`,
//!   `broadcast_exn`;
//! * `Lwt_mvar` / [`Mvar`]: `create`, `create_empty`, `put`, `take`, `take_available`,
//!   `is_empty`;
//! * `Lwt_stream`: `create` (`push (Some x)` / `push None`), `create_bounded` (`push`, `close`,
//!   `resize`, `count`, `size`, `blocked`), `get`, `peek`, `junk`, `nget`, `npeek`, `njunk`,
//!   `next`, `get_while`, `get_while_s`, `junk_while`, `junk_while_s` (predicate `x < t`, the
//!   `_s` forms' promise resolved), `last_new`, `junk_old`, `is_empty`, `closed`, `is_closed`,
//!   `get_available`, `get_available_up_to`; streams derived from an unbounded (or derived) one:
//!   `clone`, and `map`, `filter`, `filter_map` and their `_s` forms (promises resolved) over a
//!   `clone` of it (Lwt's raise `Invalid_argument` on a bounded stream's clone, allowed here on
//!   purpose; a derived stream is cut with its source); and the same six, and the `_s` forms
//!   with callback promises, over any stream itself (bounded too), which the program goes on
//!   reading directly, in turn with the derived stream (see below);
//! * `wait`, `wakeup`, `wakeup_exn` and `cancel` of any promise of the pool (pending `lock`s,
//!   `wait`s, `take`s, `put`s, reads, bounded pushes, `with_lock`s...).
//!
//! The program's own code runs in two places only: at top level, and in `with_lock` bodies, which
//! may first do one action (`unlock`, `signal`, `broadcast`, `put`, a push, a close, a `wakeup`)
//! inside the callback that hands them the lock. So the order callbacks run in (registration
//! order, breadth-first here; newest first and nested in Lwt, whose `wakeup_later` also defers
//! callbacks below the first level: README, "Where this differs from Lwt, on purpose") decides
//! little, and what it may decide is left out (below). Where one operation starts several chains
//! that meet (a `broadcast` to waiters that relock one mutex), Lwt and lwt-core both serve them
//! in queue order, and that is compared.
//!
//! Not compared, because the crate differs there on purpose:
//!
//! * the callback order: when two bodies with an action run in one operation, what their
//!   actions reach; a body that returns (or wakes up) a promise that another body of the same
//!   operation makes (found at seed 8 with 60 operations, by the generator of session 12: `unlock` hands the lock to a body
//!   that wakes up the promise a running `with_lock` waits on, then returns a fresh promise: the
//!   `wakeup` runs that `with_lock`'s unlock at once on both sides, whose `wakeup_later` of the
//!   next holder runs its body when the innermost callback returns here (the `resolver` module
//!   docs, "When callbacks run"), before the fresh promise exists, and once the outermost one
//!   returned in Lwt, after);
//! * reads of one stream while another read of it is pending, one of them consuming (`get`,
//!   `junk`, `nget`): here they are served in order, in Lwt they see the same element (an
//!   `is_empty` even sees the element go). From the operation that makes such a read on, the
//!   stream is *cut* (`stream` module docs, "Differences from Lwt, on purpose");
//! * an `nget` that waits: here it takes its elements at once when they are all there, in Lwt one
//!   by one as they arrive (which a `count`, a `get_available` or a cancel meanwhile sees). The
//!   stream is cut from the `nget` on (same docs); so is it from a `get_while` (`_s`) that waits
//!   (a cancel puts back the elements it took here, Lwt keeps them removed);
//! * an `npeek` that waits: here the reads made meanwhile wait their turn behind it, in Lwt they
//!   go ahead (`reads_behind_a_waiting_npeek_go_ahead_in_lwt`), and an `npeek 0` behind a waiting
//!   read waits here, not in Lwt (`npeek_zero_behind_a_waiting_peek_is_at_once_in_lwt`). An
//!   `npeek` counts as a consuming read for the rule above, and a `get_available` (`_up_to`)
//!   while one waits cuts the stream too;
//! * an `npeek` of more than the bound of a bounded stream: here it lets pushes in beyond the
//!   bound, in Lwt it waits for ever (`npeek_over_the_bound_waits_for_ever_in_lwt`). The stream
//!   is cut from the `npeek` on, or from a `resize` that lowers the bound under the `n` of an
//!   `npeek` waiting then (`npeek_over_a_lowered_bound_waits_for_ever_in_lwt`);
//! * closing an unbounded stream twice: `Push::close` then does nothing, Lwt's `push None`
//!   raises `Closed` (the interpreter ignores it). Closed again by a callback its own close
//!   runs, Lwt's inner close succeeds and the outer one raises `Invalid_argument "Lwt.wakeup"`,
//!   which ends its run: nothing is compared from there
//!   (`a_close_run_by_the_same_close_raises_in_lwt`);
//! * resolvers and stream producers are kept to the end (dropping one rejects with `Abandoned` /
//!   closes the stream here, and does nothing in Lwt);
//! * with_lock bodies never return their own result (a cycle: Lwt loops for ever on it);
//! * a bounded push while the bound is 0: Lwt's waits until a `resize`, and a `get` waiting
//!   meanwhile is never woken; here a bound of 0 is a rendezvous
//!   (`bounded_zero_is_a_rendezvous_where_lwt_deadlocks`, at the end of this file). The stream
//!   is cut from the push on (same docs);
//! * a read while a bounded push waits and the count is over a bound that `resize` lowered: Lwt
//!   lets the push in anyway, here it waits until the count is under the bound
//!   (`a_read_over_a_lowered_bound_leaves_the_push_waiting`); a `get_available_up_to` differs
//!   only if it takes something and stops before the count is under the bound. A read of a
//!   stream derived over it reads it too, and so does a `get_available` (`_up_to n`, `n >= 1`) of
//!   the derived stream (its generator `get`s). The stream is cut from the read on (same docs).
//!
//! It also found a defect of Lwt 5.6.1 (seed 11 with 60 operations, not in the default run): a
//! stream closed again from a callback that its own close runs makes the outer close raise
//! `Invalid_argument "Lwt.wakeup"` (`tests/ocaml/stream_reclose.ml`); here the second close does
//! nothing (`closing_again_from_a_callback_the_close_runs_is_harmless` in `stream.rs`). Such a
//! program is reported as differing: the escape is Lwt's.
//!
//! This test also found that `get_available` left a waiting bounded push out of what it took
//! (Lwt's read of each element lets the push in, and takes it too); the `stream` module now does
//! the same (`get_available_takes_the_waiting_push`).
//!
//! A cut propagates: a cut object cuts the promises made on it (from that operation on), a
//! `with_lock` body returning a cut promise cuts the mutex (its release time is unknown), a body
//! whose mutex or `with_lock` is cut cuts what its action reaches, a cancel of a cut promise cuts
//! everything it may reach and their objects. See [`cuts`]. A cut slot is compared after the
//! operations before its cut only, a query on a cut object only before the cut. About one slot
//! in nine is cut somewhere (most often on a stream, by concurrent reads).
//!
//! No difference was found in `Mutex`, `Condition` or `Mvar`, nor in `next`, `njunk`,
//! `junk_while` (`_s`), `last_new`, `junk_old`, `clone` and the `map` / `filter` / `filter_map`
//! streams beyond the cuts above.
//!
//! The stream combinators: `append`, `combine`, `choose` (over clones of two streams),
//! `concat` (of a stream of clones pushed later), `on_terminate` / `on_termination`, and
//! `map_s`, `filter_s`, `filter_map_s`, `iter_s` whose callback promises wait until a later
//! operation resolves or rejects them (`CR` / `CF`); the callbacks that ran are compared, each
//! owner's in order within an operation (callbacks of several owners, or several
//! `on_terminate`, follow the callback order, which differs on purpose). Half the programs are
//! mostly about streams. Differences found there, kept on purpose and cut: Lwt's `choose`
//! reads its inputs at once (`choose_reads_its_inputs_at_once_in_lwt`; cut when an input is a
//! derived stream) and picks at random (cut once both inputs received something); a callback
//! failure nobody waits for is lost in Lwt (`a_generator_failure_nobody_waits_for_is_lost_in_lwt`).
//!
//! `map` & co. over a stream itself (`DD` in `lwt_diff_sync.ml`; the methods borrow the
//! stream, so the program keeps reading it): a read of the derived stream that finds nothing
//! buffered reads the source, in Lwt and here, so it is a consuming read of the source for the
//! concurrent-reads rule above (even a `peek`), and so is, with no slot to show when it ends,
//! the source read that a canceled read of the derived stream started (it goes on on both
//! sides, and its element waits in the derived stream), or that a `get_available`
//! (`_up_to`), `junk_old` or `last_new` of it started (they call the generator on both sides):
//! the source is cut at its next read. A derivation over a stream itself is followed by a few
//! pushes to the source, and half the stream operations then go to the pair, so that they are
//! read in turn with elements there. Streams derived over a stream itself are not cloned,
//! appended, combined, chosen, concatenated or `iter_s`'d (a clone of one reads the source
//! through the derived stream's generator: not modelled). No difference was found there beyond
//! the cuts; a `map` that skipped the next element after a direct read of its source fails at
//! case 3636 of seed 1.
//!
//! When `ocamlfind` or the `lwt` package is missing, the test prints a skip message and passes.
//! `OCAML_DIFF_SYNC_CASES` (default 12000, a few seconds), `OCAML_DIFF_SYNC_SEED` (default 1) and
//! `OCAML_DIFF_SYNC_MAX_OPS` (the longest program, default 30 operations) set the run;
//! `OCAML_DIFF_SYNC_KEEP_GOING=1` reports every failing case (shrunk) instead of stopping at the
//! first; `OCAML_DIFF_SYNC_CASE=<n>` only prints case `n`. A failure prints the shrunk program in `lwt_diff_sync.ml`'s format, which can be fed to
//! the compiled interpreter (`target/tmp/lwt_diff_sync/lwt_diff_sync`) by hand.
//! Run: `cargo test -p lwt-core --test ocaml_diff_sync -- --nocapture`.

#[path = "support/fuzz.rs"]
mod fuzz;
#[path = "support/ocaml.rs"]
mod ocaml;
#[path = "support/slot_state.rs"]
mod slot_state;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use fuzz::{env, Rng};
use lwt_core::stream::{self, BoundedPush, Push, Stream};
use lwt_core::sync::{Condition, Mutex, Mvar};
use lwt_core::{wait, Exn, Failure, Promise, Resolver, State};
use slot_state::{parse_st, st_text, St};

// ------------------------------------------------------------------------------------------------
// Programs
// ------------------------------------------------------------------------------------------------

/// Values stay below this, on both sides (OCaml's `int` is 63 bits).
const MD: i64 = 1_000_003;

/// Objects of each kind a program may make.
const OBJECTS: usize = 4;

fn combine(values: &[i64]) -> i64 {
    values.iter().fold(7, |acc, v| (acc * 131 + v) % MD)
}

/// What a `with_lock` body returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Val(i64),
    Fail(u32),
    /// The promise in this slot (`return 0` if there is none).
    Existing(usize),
    /// A fresh `wait()` promise, stored in this slot with its resolver.
    Fresh(usize),
}

/// What a `with_lock` body does first (inside the callback that hands it the lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Unlock(usize),
    Signal(usize, i64),
    Broadcast(usize, i64),
    /// `put`, its promise ignored.
    Put(usize, i64),
    /// A push to an unbounded stream (nothing on a bounded one), `Closed` ignored.
    Push(usize, i64),
    Close(usize),
    Wakeup(usize, i64),
}

impl Act {
    /// The object it acts on, or the slot it resolves.
    fn target(self) -> (Option<Obj>, Option<usize>) {
        match self {
            Act::Unlock(m) => (Some(MUTEX * OBJECTS + m), None),
            Act::Signal(c, _) | Act::Broadcast(c, _) => (Some(COND * OBJECTS + c), None),
            Act::Put(v, _) => (Some(MVAR * OBJECTS + v), None),
            Act::Push(s, _) | Act::Close(s) => (Some(STREAM * OBJECTS + s), None),
            Act::Wakeup(x, _) => (None, Some(x)),
        }
    }
}

/// How a derived stream is made from an unbounded (or derived) one: `clone`, or `map`
/// (`x + 1000`), `filter` (even `x`) or `filter_map` (`x + 2000` unless `x` is a multiple of 3),
/// the `_s` forms with resolved promises, over a clone of it (Lwt's `map` reads its source), or
/// over the stream itself ([`Op::Derived`]'s flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Derive {
    Clone,
    Map(bool),
    Filter(bool),
    FilterMap(bool),
    /// `map_s`, `filter_s`, `filter_map_s` whose callback returns a fresh `wait()` promise (a
    /// *callback promise* of the derived stream, see [`Owner`]) that a later [`Op::CbWake`]
    /// resolves with some `v`: the element becomes `v`, is kept if `v` is even, becomes
    /// `v + 2000` unless `v` is a multiple of 3.
    MapW,
    FilterW,
    FilterMapW,
    /// `append`, `combine` (a pair `(x, y)` becomes `(x * 131 + y) mod MD`) and `choose` of
    /// clones of the source and of this other unbounded (or derived) stream.
    Append(usize),
    Combine(usize),
    Choose(usize),
}

/// Whose callback promises a [`Op::CbWake`] resolves: a derived stream's (`MapW` & co.), or
/// an `iter_s`'s (its result slot, and the stream it iterates over a clone of).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Stream(usize),
    Iter(usize, usize),
}

impl Owner {
    fn text(self) -> String {
        match self {
            Owner::Stream(t) => format!("s{t}"),
            Owner::Iter(d, _) => format!("i{d}"),
        }
    }

    /// The stream whose cut cuts the callbacks.
    fn obj(self) -> Obj {
        match self {
            Owner::Stream(s) | Owner::Iter(_, s) => STREAM * OBJECTS + s,
        }
    }
}

impl Derive {
    /// The second stream read, if any.
    fn other(self) -> Option<usize> {
        match self {
            Derive::Append(u) | Derive::Combine(u) | Derive::Choose(u) => Some(u),
            _ => None,
        }
    }
}

/// One operation; `d` is the slot the result goes to, `m`, `c`, `v`, `s` a mutex, condition,
/// mailbox or stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    NewMutex(usize),
    NewCond(usize),
    NewMvar(usize, Option<i64>),
    NewStream(usize),
    NewBounded(usize, usize),
    Lock(usize, usize),
    Unlock(usize),
    WithLock(usize, usize, u32, Option<Act>, Body),
    IsLocked(usize),
    MutexEmpty(usize),
    CondWait(usize, usize, Option<usize>),
    Signal(usize, i64),
    Broadcast(usize, i64),
    BroadcastExn(usize, u32),
    Put(usize, usize, i64),
    Take(usize, usize),
    TakeAvailable(usize),
    MvarEmpty(usize),
    Get(usize, usize),
    Peek(usize, usize),
    Junk(usize, usize),
    Nget(usize, usize, usize),
    StreamEmpty(usize, usize),
    Closed(usize, usize),
    Push(usize, i64),
    BoundedPush(usize, usize, i64),
    Close(usize),
    GetAvailable(usize),
    GetUpTo(usize, usize),
    Npeek(usize, usize, usize),
    Njunk(usize, usize, usize),
    Next(usize, usize),
    /// `get_while` (`get_while_s` if the flag is set, its predicate's promise resolved) with the
    /// predicate `x < t`.
    GetWhile(usize, usize, i64, bool),
    /// `junk_while` (`junk_while_s`), as `GetWhile`.
    JunkWhile(usize, usize, i64, bool),
    LastNew(usize, usize),
    JunkOld(usize, usize),
    /// A derived stream `t` of stream `s`; with the flag, over `s` itself (`map` & co. only),
    /// which the program may go on reading: then `s`'s reads and `t`'s take turns at its
    /// elements.
    Derived(usize, usize, Derive, bool),
    /// Stream `t` is `concat` of a fresh stream of streams (closed by `Close(t)`).
    NewConcat(usize),
    /// Pushes a clone of stream `s` (made before `t`) to concat `t`'s stream of streams.
    ConcatPush(usize, usize),
    /// `iter_s` over a clone of stream `s` (into slot `d`), its callback returning a callback
    /// promise ([`Owner::Iter`]).
    IterS(usize, usize),
    /// `on_terminate` (`on_termination` if the flag is set) of stream `s`, with a label.
    OnTerm(usize, u32, bool),
    /// Resolves the `j`-th oldest callback promise of the owner still pending: fulfilled with
    /// the value, or rejected with that failure.
    CbWake(Owner, usize, Result<i64, u32>),
    IsClosed(usize),
    BoundedInfo(usize),
    Resize(usize, usize),
    Wait(usize),
    Wakeup(usize, i64),
    WakeupExn(usize, u32),
    Cancel(usize),
}

#[derive(Clone, Debug)]
struct Prog {
    slots: usize,
    ops: Vec<Op>,
}

fn body_text(a: Option<Act>, b: Body) -> String {
    let act = match a {
        None => String::new(),
        Some(Act::Unlock(m)) => format!("/UL.{m}"),
        Some(Act::Signal(c, v)) => format!("/SG.{c}.{v}"),
        Some(Act::Broadcast(c, v)) => format!("/BC.{c}.{v}"),
        Some(Act::Put(v, x)) => format!("/PT.{v}.{x}"),
        Some(Act::Push(s, x)) => format!("/PU.{s}.{x}"),
        Some(Act::Close(s)) => format!("/CL.{s}"),
        Some(Act::Wakeup(i, v)) => format!("/WU.{i}.{v}"),
    };
    match b {
        Body::Val(v) => format!("v{act} {v}"),
        Body::Fail(n) => format!("f{act} {n}"),
        Body::Existing(i) => format!("e{act} {i}"),
        Body::Fresh(i) => format!("w{act} {i}"),
    }
}

fn op_text(op: &Op) -> String {
    match *op {
        Op::NewMutex(m) => format!("NM {m}"),
        Op::NewCond(c) => format!("NC {c}"),
        Op::NewMvar(v, Some(x)) => format!("NV {v} {x}"),
        Op::NewMvar(v, None) => format!("NE {v}"),
        Op::NewStream(s) => format!("NS {s}"),
        Op::NewBounded(s, size) => format!("NB {s} {size}"),
        Op::Lock(d, m) => format!("LK {d} {m}"),
        Op::Unlock(m) => format!("UL {m}"),
        Op::WithLock(d, m, l, a, b) => format!("WL {d} {m} {l} {}", body_text(a, b)),
        Op::IsLocked(m) => format!("ML {m}"),
        Op::MutexEmpty(m) => format!("MQ {m}"),
        Op::CondWait(d, c, m) => match m {
            Some(m) => format!("CW {d} {c} {m}"),
            None => format!("CW {d} {c} -"),
        },
        Op::Signal(c, v) => format!("SG {c} {v}"),
        Op::Broadcast(c, v) => format!("BC {c} {v}"),
        Op::BroadcastExn(c, n) => format!("BE {c} {n}"),
        Op::Put(d, v, x) => format!("PT {d} {v} {x}"),
        Op::Take(d, v) => format!("TK {d} {v}"),
        Op::TakeAvailable(v) => format!("TA {v}"),
        Op::MvarEmpty(v) => format!("VQ {v}"),
        Op::Get(d, s) => format!("GT {d} {s}"),
        Op::Peek(d, s) => format!("PK {d} {s}"),
        Op::Junk(d, s) => format!("JK {d} {s}"),
        Op::Nget(d, s, n) => format!("NG {d} {s} {n}"),
        Op::StreamEmpty(d, s) => format!("SE {d} {s}"),
        Op::Closed(d, s) => format!("CD {d} {s}"),
        Op::Push(s, x) => format!("PU {s} {x}"),
        Op::BoundedPush(d, s, x) => format!("BP {d} {s} {x}"),
        Op::Close(s) => format!("CL {s}"),
        Op::GetAvailable(s) => format!("GA {s}"),
        Op::GetUpTo(s, n) => format!("GU {s} {n}"),
        Op::Npeek(d, s, n) => format!("NP {d} {s} {n}"),
        Op::Njunk(d, s, n) => format!("NJ {d} {s} {n}"),
        Op::Next(d, s) => format!("NX {d} {s}"),
        Op::GetWhile(d, s, t, false) => format!("GW {d} {s} {t}"),
        Op::GetWhile(d, s, t, true) => format!("GS {d} {s} {t}"),
        Op::JunkWhile(d, s, t, false) => format!("JW {d} {s} {t}"),
        Op::JunkWhile(d, s, t, true) => format!("JS {d} {s} {t}"),
        Op::LastNew(d, s) => format!("LN {d} {s}"),
        Op::JunkOld(d, s) => format!("JO {d} {s}"),
        Op::Derived(t, s, how, direct) => {
            let k = match how {
                Derive::Clone => "c",
                Derive::Map(false) => "m",
                Derive::Map(true) => "M",
                Derive::Filter(false) => "f",
                Derive::Filter(true) => "F",
                Derive::FilterMap(false) => "o",
                Derive::FilterMap(true) => "O",
                Derive::MapW => "W",
                Derive::FilterW => "G",
                Derive::FilterMapW => "P",
                Derive::Append(u) => return format!("D2 {t} {s} {u} a"),
                Derive::Combine(u) => return format!("D2 {t} {s} {u} b"),
                Derive::Choose(u) => return format!("D2 {t} {s} {u} h"),
            };
            format!("{} {t} {s} {k}", if direct { "DD" } else { "DV" })
        }
        Op::NewConcat(t) => format!("CC {t}"),
        Op::ConcatPush(t, s) => format!("CP {t} {s}"),
        Op::IterS(d, s) => format!("IS {d} {s}"),
        Op::OnTerm(s, l, false) => format!("OT {s} {l}"),
        Op::OnTerm(s, l, true) => format!("OX {s} {l}"),
        Op::CbWake(o, j, Ok(v)) => format!("CR {} {j} {v}", o.text()),
        Op::CbWake(o, j, Err(n)) => format!("CF {} {j} {n}", o.text()),
        Op::IsClosed(s) => format!("SQ {s}"),
        Op::BoundedInfo(s) => format!("BQ {s}"),
        Op::Resize(s, n) => format!("RS {s} {n}"),
        Op::Wait(d) => format!("W {d}"),
        Op::Wakeup(s, v) => format!("WU {s} {v}"),
        Op::WakeupExn(s, n) => format!("WE {s} {n}"),
        Op::Cancel(s) => format!("X {s}"),
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

/// The kinds of object, for [`Obj`].
const MUTEX: usize = 0;
const COND: usize = 1;
const MVAR: usize = 2;
const STREAM: usize = 3;

/// An object: `kind * OBJECTS + index`.
type Obj = usize;

/// What an operation touches: the slot it makes, the objects it uses, and, for a stream read,
/// whether it consumes.
struct Touch {
    slot: Option<usize>,
    objs: Vec<Obj>,
    read: Option<bool>,
}

fn touch(op: &Op) -> Touch {
    let t = |slot: Option<usize>, objs: Vec<Obj>, read: Option<bool>| Touch { slot, objs, read };
    let m = |i: usize| MUTEX * OBJECTS + i;
    let c = |i: usize| COND * OBJECTS + i;
    let v = |i: usize| MVAR * OBJECTS + i;
    let s = |i: usize| STREAM * OBJECTS + i;
    match *op {
        Op::NewMutex(i) | Op::Unlock(i) | Op::IsLocked(i) | Op::MutexEmpty(i) => {
            t(None, vec![m(i)], None)
        }
        Op::NewCond(i) | Op::Signal(i, _) | Op::Broadcast(i, _) | Op::BroadcastExn(i, _) => {
            t(None, vec![c(i)], None)
        }
        Op::NewMvar(i, _) | Op::TakeAvailable(i) | Op::MvarEmpty(i) => t(None, vec![v(i)], None),
        Op::NewStream(i)
        | Op::NewBounded(i, _)
        | Op::Push(i, _)
        | Op::Close(i)
        | Op::GetAvailable(i)
        | Op::GetUpTo(i, _)
        | Op::IsClosed(i)
        | Op::BoundedInfo(i)
        | Op::Resize(i, _) => t(None, vec![s(i)], None),
        Op::Derived(j, i, how, _) => t(
            None,
            [s(j), s(i)].into_iter().chain(how.other().map(s)).collect(),
            None,
        ),
        Op::NewConcat(i) | Op::OnTerm(i, ..) => t(None, vec![s(i)], None),
        Op::ConcatPush(j, i) => t(None, vec![s(j), s(i)], None),
        Op::IterS(d, i) => t(Some(d), vec![s(i)], None),
        Op::CbWake(o, ..) => t(None, vec![o.obj()], None),
        Op::Lock(d, i) | Op::WithLock(d, i, ..) => t(Some(d), vec![m(i)], None),
        Op::CondWait(d, i, mx) => t(
            Some(d),
            [Some(c(i)), mx.map(m)].into_iter().flatten().collect(),
            None,
        ),
        Op::Put(d, i, _) | Op::Take(d, i) => t(Some(d), vec![v(i)], None),
        Op::Get(d, i)
        | Op::Junk(d, i)
        | Op::Nget(d, i, _)
        | Op::Njunk(d, i, _)
        | Op::Next(d, i)
        | Op::GetWhile(d, i, ..)
        | Op::JunkWhile(d, i, ..)
        | Op::LastNew(d, i)
        | Op::JunkOld(d, i) => t(Some(d), vec![s(i)], Some(true)),
        // An `npeek` waits for all its elements, and the reads behind it wait for it (here, not
        // in Lwt), so it counts as consuming: any read made while it waits cuts.
        Op::Npeek(d, i, _) => t(Some(d), vec![s(i)], Some(true)),
        Op::Peek(d, i) | Op::StreamEmpty(d, i) => t(Some(d), vec![s(i)], Some(false)),
        Op::Closed(d, i) | Op::BoundedPush(d, i, _) => t(Some(d), vec![s(i)], None),
        Op::Wait(d) => t(Some(d), vec![], None),
        Op::Wakeup(..) | Op::WakeupExn(..) | Op::Cancel(_) => t(None, vec![], None),
    }
}

// ------------------------------------------------------------------------------------------------
// The generator
// ------------------------------------------------------------------------------------------------

struct Gen<'a> {
    rng: &'a mut Rng,
    slots: usize,
    /// `wait()` slots not woken yet.
    resolvable: Vec<usize>,
    label: u32,
    /// How many objects of each kind, and which streams are bounded.
    count: [usize; 4],
    bounded: Vec<bool>,
    /// Which streams were derived over a stream itself (see [`cuts`] for why they are not read
    /// through clones).
    direct: Vec<bool>,
    /// The streams derived over a stream itself, with that stream: half the stream operations
    /// then go to one of them, so that the two are read in turn.
    pairs: Vec<(usize, usize)>,
    /// Operations to emit next (pushes after a derivation over a stream itself, so that reads
    /// find elements there rather than wait, which two readers may not do at once: [`cuts`]).
    queued: Vec<Op>,
    /// The owners of callback promises made so far, and the concat streams.
    owners: Vec<Owner>,
    concats: Vec<usize>,
    /// Half the programs are mostly about streams.
    streamy: bool,
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

    fn new_slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    /// A slot made before, the recent ones more often.
    fn some_slot(&mut self) -> Option<usize> {
        let n = self.slots as u64;
        if n == 0 {
            return None;
        }
        Some(if self.below(2) == 0 {
            (n - 1 - self.below(n.min(4))) as usize
        } else {
            self.below(n) as usize
        })
    }

    fn obj(&mut self, kind: usize) -> usize {
        self.below(self.count[kind] as u64) as usize
    }

    fn creations(&mut self) -> Vec<Op> {
        let mut ops = Vec::new();
        for kind in [MUTEX, COND, MVAR, STREAM] {
            let n = 1 + self.below(2) as usize;
            self.count[kind] = n;
            for i in 0..n {
                ops.push(match kind {
                    MUTEX => Op::NewMutex(i),
                    COND => Op::NewCond(i),
                    MVAR => {
                        let x = (self.below(2) == 0).then(|| self.value());
                        Op::NewMvar(i, x)
                    }
                    _ => {
                        let bounded = self.below(2) == 0;
                        self.bounded.push(bounded);
                        self.direct.push(false);
                        if bounded {
                            Op::NewBounded(i, self.below(4) as usize)
                        } else {
                            Op::NewStream(i)
                        }
                    }
                });
            }
        }
        ops
    }

    fn act(&mut self) -> Option<Act> {
        Some(match self.below(12) {
            0 => Act::Unlock(self.obj(MUTEX)),
            1 => Act::Signal(self.obj(COND), self.value()),
            2 => Act::Broadcast(self.obj(COND), self.value()),
            3 => Act::Put(self.obj(MVAR), self.value()),
            4 => Act::Push(self.obj(STREAM), self.value()),
            5 => Act::Close(self.obj(STREAM)),
            6 if !self.resolvable.is_empty() => {
                let i = self.below(self.resolvable.len() as u64) as usize;
                Act::Wakeup(self.resolvable.remove(i), self.value())
            }
            _ => return None,
        })
    }

    fn body(&mut self) -> Body {
        match self.below(10) {
            0..=2 => Body::Val(self.value()),
            3 => Body::Fail(self.exn()),
            4..=5 if self.slots > 0 => Body::Existing(self.some_slot().unwrap()),
            _ => {
                let i = self.new_slot();
                self.resolvable.push(i);
                Body::Fresh(i)
            }
        }
    }

    fn op(&mut self) -> Op {
        if !self.queued.is_empty() {
            return self.queued.remove(0);
        }
        let k = self.below(100);
        if k < 12 && !self.resolvable.is_empty() {
            let i = self.below(self.resolvable.len() as u64) as usize;
            let s = self.resolvable.remove(i);
            return if self.below(4) == 0 {
                Op::WakeupExn(s, self.exn())
            } else {
                Op::Wakeup(s, self.value())
            };
        }
        if k < 22 {
            if let Some(s) = self.some_slot() {
                return Op::Cancel(s);
            }
        }
        if k < 25 {
            let d = self.new_slot();
            self.resolvable.push(d);
            return Op::Wait(d);
        }
        // A program about streams picks a stream operation three times in four.
        let kind = if self.streamy && self.below(4) != 0 {
            3
        } else {
            self.below(4)
        };
        match kind {
            0 => {
                let m = self.obj(MUTEX);
                match self.below(9) {
                    0..=2 => Op::Lock(self.new_slot(), m),
                    3..=4 => Op::Unlock(m),
                    5..=6 => {
                        // The body first, so that it returns an earlier promise, never the
                        // result's own (a cycle, on which Lwt loops for ever).
                        self.label += 1;
                        let (l, a, b) = (self.label, self.act(), self.body());
                        Op::WithLock(self.new_slot(), m, l, a, b)
                    }
                    7 => Op::IsLocked(m),
                    _ => Op::MutexEmpty(m),
                }
            }
            1 => {
                let c = self.obj(COND);
                match self.below(9) {
                    0..=3 => {
                        let m = (self.below(2) == 0).then(|| self.obj(MUTEX));
                        Op::CondWait(self.new_slot(), c, m)
                    }
                    4..=6 => Op::Signal(c, self.value()),
                    7 => Op::Broadcast(c, self.value()),
                    _ => Op::BroadcastExn(c, self.exn()),
                }
            }
            2 => {
                let v = self.obj(MVAR);
                match self.below(8) {
                    0..=2 => Op::Put(self.new_slot(), v, self.value()),
                    3..=5 => Op::Take(self.new_slot(), v),
                    6 => Op::TakeAvailable(v),
                    _ => Op::MvarEmpty(v),
                }
            }
            _ => {
                let s = if !self.pairs.is_empty() && self.below(2) == 0 {
                    let i = self.below(self.pairs.len() as u64) as usize;
                    let (t, s) = self.pairs[i];
                    if self.below(2) == 0 {
                        t
                    } else {
                        s
                    }
                } else {
                    self.obj(STREAM)
                };
                let bounded = self.bounded[s];
                match self.below(40) {
                    0..=5 => {
                        if bounded {
                            Op::BoundedPush(self.new_slot(), s, self.value())
                        } else {
                            Op::Push(s, self.value())
                        }
                    }
                    6..=10 => Op::Get(self.new_slot(), s),
                    11..=12 => Op::Peek(self.new_slot(), s),
                    13 => Op::Junk(self.new_slot(), s),
                    14 => Op::Nget(self.new_slot(), s, self.below(3) as usize),
                    15 => Op::StreamEmpty(self.new_slot(), s),
                    16 => Op::Closed(self.new_slot(), s),
                    17 => Op::Close(s),
                    18 => Op::GetAvailable(s),
                    19 => Op::GetUpTo(s, self.below(3) as usize),
                    20 => Op::IsClosed(s),
                    21..=23 if bounded => {
                        if self.below(2) == 0 {
                            Op::BoundedInfo(s)
                        } else {
                            Op::Resize(s, self.below(4) as usize)
                        }
                    }
                    21..=23 => Op::Get(self.new_slot(), s),
                    24 => Op::Npeek(self.new_slot(), s, self.below(3) as usize),
                    25 => Op::Njunk(self.new_slot(), s, self.below(3) as usize),
                    26 => Op::Next(self.new_slot(), s),
                    27 => {
                        let (t, lwt) = (self.value(), self.below(2) == 0);
                        Op::GetWhile(self.new_slot(), s, t, lwt)
                    }
                    28 => {
                        let (t, lwt) = (self.value(), self.below(2) == 0);
                        Op::JunkWhile(self.new_slot(), s, t, lwt)
                    }
                    29 => Op::LastNew(self.new_slot(), s),
                    30 => Op::JunkOld(self.new_slot(), s),
                    33 => {
                        self.label += 1;
                        Op::OnTerm(s, self.label, self.below(2) == 0)
                    }
                    34..=35 if !self.owners.is_empty() => {
                        let i = self.below(self.owners.len() as u64) as usize;
                        let o = self.owners[i];
                        let j = usize::from(self.below(4) == 0);
                        let r = if self.below(5) == 0 {
                            Err(self.exn())
                        } else {
                            Ok(self.value())
                        };
                        Op::CbWake(o, j, r)
                    }
                    36 if !self.concats.is_empty() => {
                        let i = self.below(self.concats.len() as u64) as usize;
                        let t = self.concats[i];
                        // Only a stream made before `t`, which cannot read `t`.
                        let s = self.below(t as u64) as usize;
                        if self.bounded[s] || self.direct[s] {
                            Op::Close(t)
                        } else {
                            Op::ConcatPush(t, s)
                        }
                    }
                    37 if !bounded && !self.direct[s] => {
                        let d = self.new_slot();
                        self.owners.push(Owner::Iter(d, s));
                        Op::IterS(d, s)
                    }
                    // `map` & co. over the stream itself, which the program goes on reading (a
                    // bounded one too: Lwt only refuses to clone those).
                    31..=32 | 38..=39 if self.count[STREAM] < OBJECTS && self.below(2) == 0 => {
                        let t = self.count[STREAM];
                        self.count[STREAM] += 1;
                        self.bounded.push(false);
                        self.direct.push(true);
                        let lwt = self.below(2) == 0;
                        let how = match self.below(6) {
                            0 => Derive::Map(lwt),
                            1 => Derive::Filter(lwt),
                            2 => Derive::FilterMap(lwt),
                            3 => Derive::MapW,
                            4 => Derive::FilterW,
                            _ => Derive::FilterMapW,
                        };
                        if matches!(how, Derive::MapW | Derive::FilterW | Derive::FilterMapW) {
                            self.owners.push(Owner::Stream(t));
                        }
                        self.pairs.push((t, s));
                        for _ in 0..1 + self.below(3) {
                            let x = self.value();
                            let push = if bounded {
                                Op::BoundedPush(self.new_slot(), s, x)
                            } else {
                                Op::Push(s, x)
                            };
                            self.queued.push(push);
                        }
                        Op::Derived(t, s, how, true)
                    }
                    31..=32 | 38..=39
                        if !bounded && !self.direct[s] && self.count[STREAM] < OBJECTS =>
                    {
                        let t = self.count[STREAM];
                        self.count[STREAM] += 1;
                        self.bounded.push(false);
                        self.direct.push(false);
                        let lwt = self.below(2) == 0;
                        // Another unbounded stream (not `s` for `choose`, whose inputs would
                        // then always be ready together: see `cuts`).
                        let others: Vec<usize> = (0..t)
                            .filter(|&u| !self.bounded[u] && !self.direct[u])
                            .collect();
                        let other = others[self.below(others.len() as u64) as usize];
                        let how = match self.below(11) {
                            0 => Derive::Clone,
                            1 => Derive::Map(lwt),
                            2 => Derive::Filter(lwt),
                            3 => Derive::FilterMap(lwt),
                            4 => Derive::MapW,
                            5 => Derive::FilterW,
                            6 => Derive::FilterMapW,
                            7 => Derive::Append(other),
                            8 => Derive::Combine(other),
                            9 if other != s => Derive::Choose(other),
                            9 => Derive::Append(other),
                            _ => {
                                self.concats.push(t);
                                return Op::NewConcat(t);
                            }
                        };
                        if matches!(how, Derive::MapW | Derive::FilterW | Derive::FilterMapW) {
                            self.owners.push(Owner::Stream(t));
                        }
                        Op::Derived(t, s, how, false)
                    }
                    _ => Op::Get(self.new_slot(), s),
                }
            }
        }
    }
}

/// A program: the objects, then 3 to `max_ops` operations.
fn generate(rng: &mut Rng, max_ops: u64) -> Prog {
    let len = 3 + rng.below(max_ops.max(3) - 2) as usize;
    let mut g = Gen {
        rng,
        slots: 0,
        resolvable: Vec::new(),
        label: 0,
        count: [0; 4],
        bounded: Vec::new(),
        direct: Vec::new(),
        pairs: Vec::new(),
        queued: Vec::new(),
        owners: Vec::new(),
        concats: Vec::new(),
        streamy: false,
    };
    g.streamy = g.below(2) == 0;
    let mut ops = g.creations();
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
    } else if e.is::<stream::Full>() {
        "full".into()
    } else if e.is::<stream::Empty>() {
        "empty".into()
    } else if let Some(n) = e
        .downcast_ref::<Failure>()
        .and_then(|f| f.0.parse::<u32>().ok())
    {
        n.to_string()
    } else {
        format!("?{}", e.to_string().replace([' ', '\n'], "_"))
    }
}

/// What one side reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Report {
    /// The states of every slot after each operation.
    steps: Vec<Vec<St>>,
    /// What the query at each operation saw.
    queries: Vec<(usize, String)>,
    /// The labels of the `with_lock` bodies that ran.
    ran: BTreeSet<u32>,
    escaped: Option<String>,
    /// Before each operation, each bounded stream's count, bound and whether a push waits (the
    /// crate's side only).
    bounded: Vec<[Option<(usize, usize, bool)>; OBJECTS]>,
    /// The labels of the bodies with an action that ran in each operation, and of all the
    /// bodies that did (the crate's side).
    acted: Vec<Vec<u32>>,
    ran_in: Vec<Vec<u32>>,
    /// The `_s` and `on_terminate` callbacks that ran: operation, object, what.
    calls: Vec<(usize, Obj, String)>,
    /// After each operation, the `choose` streams both of whose inputs have received an
    /// element or their end (the crate's side).
    both: Vec<Vec<usize>>,
}

// ------------------------------------------------------------------------------------------------
// The crate's side
// ------------------------------------------------------------------------------------------------

enum Chan {
    Unbounded(Stream<i64>, Push<i64>),
    Bounded(Stream<i64>, BoundedPush<i64>),
    Derived(Stream<i64>),
    /// A `choose`, with a clone of each input that nobody reads (to see what they received).
    Chosen(Stream<i64>, [Stream<i64>; 2]),
    Concat(Stream<i64>, Push<Stream<i64>>),
}

impl Chan {
    fn stream(&self) -> &Stream<i64> {
        match self {
            Chan::Unbounded(s, _)
            | Chan::Bounded(s, _)
            | Chan::Derived(s)
            | Chan::Chosen(s, _)
            | Chan::Concat(s, _) => s,
        }
    }
}

#[derive(Default)]
struct World {
    slots: Vec<Option<Promise<i64>>>,
    resolvers: Vec<Option<Resolver<i64>>>,
    mutexes: Vec<Option<Mutex>>,
    conds: Vec<Option<Condition<i64>>>,
    mvars: Vec<Option<Mvar<i64>>>,
    streams: Vec<Option<Rc<Chan>>>,
    ran: BTreeSet<u32>,
    /// The labels of the bodies that ran in the current operation, and of those with an action.
    ran_now: Vec<u32>,
    acted: Vec<u32>,
    queries: Vec<(usize, String)>,
    /// The operation running.
    cur: usize,
    /// The callbacks of `_s` forms and `on_terminate` that ran: operation, object, what.
    calls: Vec<(usize, Obj, String)>,
    /// The callback promises of each owner, `None` once resolved.
    cbs: Vec<(Owner, Vec<Option<Resolver<i64>>>)>,
}

/// The world, shared with the `with_lock` bodies. No borrow of it is held while the crate runs.
#[derive(Clone, Default)]
struct Real(Rc<RefCell<World>>);

fn unit(p: Promise<()>) -> Promise<i64> {
    p.map(|()| 0)
}

impl Real {
    fn get(&self, i: usize) -> Option<Promise<i64>> {
        self.0.borrow().slots.get(i).cloned().flatten()
    }

    fn set(&self, i: usize, p: Promise<i64>) {
        if let Some(slot) = self.0.borrow_mut().slots.get_mut(i) {
            *slot = Some(p);
        }
    }

    fn fresh(&self, i: usize) -> Promise<i64> {
        let (p, r) = wait();
        let mut w = self.0.borrow_mut();
        if i < w.slots.len() {
            w.slots[i] = Some(p.clone());
            w.resolvers[i] = Some(r);
        } else {
            drop(w);
        }
        p
    }

    fn query(&self, k: usize, text: String) {
        self.0.borrow_mut().queries.push((k, text));
    }

    fn mutex(&self, m: usize) -> Option<Mutex> {
        self.0.borrow().mutexes.get(m).cloned().flatten()
    }

    fn cond(&self, c: usize) -> Option<Condition<i64>> {
        self.0.borrow().conds.get(c).cloned().flatten()
    }

    fn mvar(&self, v: usize) -> Option<Mvar<i64>> {
        self.0.borrow().mvars.get(v).cloned().flatten()
    }

    fn chan(&self, s: usize) -> Option<Rc<Chan>> {
        self.0.borrow().streams.get(s).cloned().flatten()
    }

    /// A callback of `o` called on `x`: logged, and given a fresh callback promise.
    fn callback(&self, o: Owner, x: i64) -> Promise<i64> {
        let (p, r) = wait();
        let mut w = self.0.borrow_mut();
        let k = w.cur;
        w.calls.push((k, o.obj(), format!("cb {} {x}", o.text())));
        match w.cbs.iter_mut().find(|(o2, _)| *o2 == o) {
            Some((_, rs)) => rs.push(Some(r)),
            None => w.cbs.push((o, vec![Some(r)])),
        }
        p
    }

    fn act(&self, a: Act) {
        match a {
            Act::Unlock(m) => self.op(usize::MAX, &Op::Unlock(m)),
            Act::Signal(c, v) => self.op(usize::MAX, &Op::Signal(c, v)),
            Act::Broadcast(c, v) => self.op(usize::MAX, &Op::Broadcast(c, v)),
            Act::Put(v, x) => {
                if let Some(v) = self.mvar(v) {
                    drop(v.put(x));
                }
            }
            Act::Push(s, x) => {
                if let Some(ch) = self.chan(s) {
                    if let Chan::Unbounded(_, push) = &*ch {
                        let _ = push.push(x);
                    }
                }
            }
            Act::Close(s) => self.op(usize::MAX, &Op::Close(s)),
            Act::Wakeup(i, v) => self.op(usize::MAX, &Op::Wakeup(i, v)),
        }
    }

    fn body(&self, l: u32, a: Option<Act>, b: Body) -> Promise<i64> {
        {
            let mut w = self.0.borrow_mut();
            w.ran.insert(l);
            w.ran_now.push(l);
            if a.is_some() {
                w.acted.push(l);
            }
        }
        if let Some(a) = a {
            self.act(a);
        }
        match b {
            Body::Val(v) => Promise::ret(v),
            Body::Fail(n) => Promise::fail_with(n.to_string()),
            Body::Existing(i) => self.get(i).unwrap_or_else(|| Promise::ret(0)),
            Body::Fresh(i) => self.fresh(i),
        }
    }

    fn op(&self, k: usize, op: &Op) {
        let list = |v: Vec<i64>| {
            let v: Vec<String> = v.iter().map(i64::to_string).collect();
            format!("[{}]", v.join(","))
        };
        match *op {
            Op::NewMutex(m) => self.0.borrow_mut().mutexes[m] = Some(Mutex::new()),
            Op::NewCond(c) => self.0.borrow_mut().conds[c] = Some(Condition::new()),
            Op::NewMvar(v, x) => {
                self.0.borrow_mut().mvars[v] = Some(match x {
                    Some(x) => Mvar::create(x),
                    None => Mvar::create_empty(),
                })
            }
            Op::NewStream(s) => {
                let (st, push) = stream::create();
                self.0.borrow_mut().streams[s] = Some(Rc::new(Chan::Unbounded(st, push)));
            }
            Op::NewBounded(s, size) => {
                let (st, push) = stream::create_bounded(size);
                self.0.borrow_mut().streams[s] = Some(Rc::new(Chan::Bounded(st, push)));
            }
            Op::Lock(d, m) => {
                if let Some(m) = self.mutex(m) {
                    self.set(d, unit(m.lock()));
                }
            }
            Op::Unlock(m) => {
                if let Some(m) = self.mutex(m) {
                    m.unlock();
                }
            }
            Op::WithLock(d, m, l, a, b) => {
                if let Some(m) = self.mutex(m) {
                    let me = self.clone();
                    self.set(d, m.with_lock(move || me.body(l, a, b)));
                }
            }
            Op::IsLocked(m) => {
                if let Some(m) = self.mutex(m) {
                    self.query(k, m.is_locked().to_string());
                }
            }
            Op::MutexEmpty(m) => {
                if let Some(m) = self.mutex(m) {
                    self.query(k, m.is_empty().to_string());
                }
            }
            Op::CondWait(d, c, m) => {
                if let Some(c) = self.cond(c) {
                    match m {
                        None => self.set(d, c.wait(None)),
                        Some(m) => {
                            if let Some(m) = self.mutex(m) {
                                self.set(d, c.wait(Some(&m)));
                            }
                        }
                    }
                }
            }
            Op::Signal(c, v) => {
                if let Some(c) = self.cond(c) {
                    c.signal(v);
                }
            }
            Op::Broadcast(c, v) => {
                if let Some(c) = self.cond(c) {
                    c.broadcast(v);
                }
            }
            Op::BroadcastExn(c, n) => {
                if let Some(c) = self.cond(c) {
                    c.broadcast_exn(Exn::failure(n.to_string()));
                }
            }
            Op::Put(d, v, x) => {
                if let Some(v) = self.mvar(v) {
                    self.set(d, unit(v.put(x)));
                }
            }
            Op::Take(d, v) => {
                if let Some(v) = self.mvar(v) {
                    self.set(d, v.take());
                }
            }
            Op::TakeAvailable(v) => {
                if let Some(v) = self.mvar(v) {
                    let x = v.take_available().unwrap_or(-1);
                    self.query(k, x.to_string());
                }
            }
            Op::MvarEmpty(v) => {
                if let Some(v) = self.mvar(v) {
                    self.query(k, v.is_empty().to_string());
                }
            }
            Op::Get(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().get().map(|x| x.unwrap_or(-1)));
                }
            }
            Op::Peek(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().peek().map(|x| x.unwrap_or(-1)));
                }
            }
            Op::Junk(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, unit(ch.stream().junk()));
                }
            }
            Op::Nget(d, s, n) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().nget(n).map(|v| combine(&v)));
                }
            }
            Op::Npeek(d, s, n) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().npeek(n).map(|v| combine(&v)));
                }
            }
            Op::Njunk(d, s, n) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, unit(ch.stream().njunk(n)));
                }
            }
            Op::Next(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().next());
                }
            }
            Op::GetWhile(d, s, t, lwt) => {
                if let Some(ch) = self.chan(s) {
                    let got = if lwt {
                        ch.stream().get_while_s(move |x| Promise::ret(*x < t))
                    } else {
                        ch.stream().get_while(move |x| *x < t)
                    };
                    self.set(d, got.map(|v| combine(&v)));
                }
            }
            Op::JunkWhile(d, s, t, lwt) => {
                if let Some(ch) = self.chan(s) {
                    let done = if lwt {
                        ch.stream().junk_while_s(move |x| Promise::ret(*x < t))
                    } else {
                        ch.stream().junk_while(move |x| *x < t)
                    };
                    self.set(d, unit(done));
                }
            }
            Op::LastNew(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().last_new());
                }
            }
            Op::JunkOld(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, unit(ch.stream().junk_old()));
                }
            }
            Op::Derived(t, s, how, direct) => {
                if let Some(ch) = self.chan(s) {
                    let over_clone;
                    let c = if direct {
                        ch.stream()
                    } else {
                        over_clone = ch.stream().clone();
                        &over_clone
                    };
                    let st = match how {
                        Derive::Clone => c.clone(),
                        Derive::Map(false) => c.map(|x| x + 1000),
                        Derive::Map(true) => c.map_s(|x| Promise::ret(x + 1000)),
                        Derive::Filter(false) => c.filter(|x| x % 2 == 0),
                        Derive::Filter(true) => c.filter_s(|x| Promise::ret(x % 2 == 0)),
                        Derive::FilterMap(false) => {
                            c.filter_map(|x| (x % 3 != 0).then_some(x + 2000))
                        }
                        Derive::FilterMap(true) => {
                            c.filter_map_s(|x| Promise::ret((x % 3 != 0).then_some(x + 2000)))
                        }
                        Derive::MapW => {
                            let me = self.clone();
                            c.map_s(move |x| me.callback(Owner::Stream(t), x))
                        }
                        Derive::FilterW => {
                            let me = self.clone();
                            c.filter_s(move |x| {
                                me.callback(Owner::Stream(t), *x).map(|v| v % 2 == 0)
                            })
                        }
                        Derive::FilterMapW => {
                            let me = self.clone();
                            c.filter_map_s(move |x| {
                                me.callback(Owner::Stream(t), x)
                                    .map(|v| (v % 3 != 0).then_some(v + 2000))
                            })
                        }
                        Derive::Append(u) | Derive::Combine(u) | Derive::Choose(u) => {
                            let Some(other) = self.chan(u) else { return };
                            let (c, d) = (c.clone(), other.stream().clone());
                            match how {
                                Derive::Append(_) => c.append(d),
                                Derive::Combine(_) => c.combine(d).map(|(x, y)| (x * 131 + y) % MD),
                                _ => {
                                    let spies = [c.clone(), d.clone()];
                                    let st = stream::choose(vec![c, d]);
                                    let ch = Chan::Chosen(st, spies);
                                    self.0.borrow_mut().streams[t] = Some(Rc::new(ch));
                                    return;
                                }
                            }
                        }
                    };
                    self.0.borrow_mut().streams[t] = Some(Rc::new(Chan::Derived(st)));
                }
            }
            Op::NewConcat(t) => {
                let (top, push) = stream::create();
                let st = stream::concat(top);
                self.0.borrow_mut().streams[t] = Some(Rc::new(Chan::Concat(st, push)));
            }
            Op::ConcatPush(t, s) => {
                if let (Some(top), Some(ch)) = (self.chan(t), self.chan(s)) {
                    if let Chan::Concat(_, push) = &*top {
                        let _ = push.push(ch.stream().clone());
                    }
                }
            }
            Op::IterS(d, s) => {
                if let Some(ch) = self.chan(s) {
                    let me = self.clone();
                    let o = Owner::Iter(d, s);
                    let done = ch
                        .stream()
                        .clone()
                        .iter_s(move |x| me.callback(o, x).map(|_| ()));
                    self.set(d, unit(done));
                }
            }
            Op::OnTerm(s, l, alt) => {
                if let Some(ch) = self.chan(s) {
                    let me = self.clone();
                    let f = move || {
                        let mut w = me.0.borrow_mut();
                        let k = w.cur;
                        w.calls.push((k, STREAM * OBJECTS + s, format!("term {l}")));
                    };
                    if alt {
                        ch.stream().on_termination(f);
                    } else {
                        ch.stream().on_terminate(f);
                    }
                }
            }
            Op::CbWake(o, j, r) => {
                let resolver = {
                    let mut w = self.0.borrow_mut();
                    w.cbs
                        .iter_mut()
                        .find(|(o2, _)| *o2 == o)
                        .and_then(|(_, rs)| rs.iter_mut().filter(|r| r.is_some()).nth(j))
                        .and_then(Option::take)
                };
                if let Some(resolver) = resolver {
                    match r {
                        Ok(v) => resolver.wakeup(v),
                        Err(n) => resolver.wakeup_exn(Exn::failure(n.to_string())),
                    }
                }
            }
            Op::StreamEmpty(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, ch.stream().is_empty().map(i64::from));
                }
            }
            Op::Closed(d, s) => {
                if let Some(ch) = self.chan(s) {
                    self.set(d, unit(ch.stream().closed()));
                }
            }
            Op::Push(s, x) => {
                if let Some(ch) = self.chan(s) {
                    if let Chan::Unbounded(_, push) = &*ch {
                        let seen = match push.push(x) {
                            Ok(()) => "ok",
                            Err(stream::Closed) => "closed",
                        };
                        self.query(k, seen.into());
                    }
                }
            }
            Op::BoundedPush(d, s, x) => {
                if let Some(ch) = self.chan(s) {
                    if let Chan::Bounded(_, push) = &*ch {
                        self.set(d, unit(push.push(x)));
                    }
                }
            }
            Op::Close(s) => {
                if let Some(ch) = self.chan(s) {
                    match &*ch {
                        Chan::Unbounded(_, push) => push.close(),
                        Chan::Bounded(_, push) => push.close(),
                        Chan::Concat(_, push) => push.close(),
                        Chan::Derived(_) | Chan::Chosen(..) => {}
                    }
                }
            }
            Op::GetAvailable(s) => {
                if let Some(ch) = self.chan(s) {
                    let v = ch.stream().get_available();
                    self.query(k, list(v));
                }
            }
            Op::GetUpTo(s, n) => {
                if let Some(ch) = self.chan(s) {
                    let v = ch.stream().get_available_up_to(n);
                    self.query(k, list(v));
                }
            }
            Op::IsClosed(s) => {
                if let Some(ch) = self.chan(s) {
                    self.query(k, ch.stream().is_closed().to_string());
                }
            }
            Op::BoundedInfo(s) => {
                if let Some(ch) = self.chan(s) {
                    if let Chan::Bounded(_, push) = &*ch {
                        let seen = format!("{}/{}/{}", push.count(), push.size(), push.blocked());
                        self.query(k, seen);
                    }
                }
            }
            Op::Resize(s, n) => {
                if let Some(ch) = self.chan(s) {
                    if let Chan::Bounded(_, push) = &*ch {
                        push.resize(n);
                    }
                }
            }
            Op::Wait(d) => drop(self.fresh(d)),
            Op::Wakeup(s, v) => {
                let r = self
                    .0
                    .borrow_mut()
                    .resolvers
                    .get_mut(s)
                    .and_then(Option::take);
                if let Some(r) = r {
                    r.wakeup(v);
                }
            }
            Op::WakeupExn(s, n) => {
                let r = self
                    .0
                    .borrow_mut()
                    .resolvers
                    .get_mut(s)
                    .and_then(Option::take);
                if let Some(r) = r {
                    r.wakeup_exn(Exn::failure(n.to_string()));
                }
            }
            Op::Cancel(s) => {
                if let Some(p) = self.get(s) {
                    p.cancel();
                }
            }
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

/// Runs a program on the crate.
fn run_crate(p: &Prog) -> Report {
    let real = Real::default();
    {
        let mut w = real.0.borrow_mut();
        w.slots = vec![None; p.slots];
        w.resolvers = (0..p.slots).map(|_| None).collect();
        w.mutexes = vec![None; OBJECTS];
        w.conds = vec![None; OBJECTS];
        w.mvars = vec![None; OBJECTS];
        w.streams = vec![None; OBJECTS];
    }
    let mut steps = Vec::new();
    let mut bounded = Vec::new();
    let mut acted = Vec::new();
    let mut ran_in = Vec::new();
    let mut both = Vec::new();
    for (k, op) in p.ops.iter().enumerate() {
        bounded.push(std::array::from_fn(|s| match real.chan(s).as_deref() {
            Some(Chan::Bounded(_, push)) => Some((push.count(), push.size(), push.blocked())),
            _ => None,
        }));
        real.0.borrow_mut().cur = k;
        real.op(k, op);
        steps.push(real.states());
        both.push(
            (0..OBJECTS)
                .filter(|&t| match real.chan(t).as_deref() {
                    Some(Chan::Chosen(_, spies)) => spies
                        .iter()
                        .all(|spy| spy.buffered() > 0 || spy.is_closed()),
                    _ => false,
                })
                .collect(),
        );
        acted.push(std::mem::take(&mut real.0.borrow_mut().acted));
        ran_in.push(std::mem::take(&mut real.0.borrow_mut().ran_now));
    }
    let report = Report {
        steps,
        queries: real.0.borrow().queries.clone(),
        ran: real.0.borrow().ran.clone(),
        escaped: None,
        bounded,
        acted,
        ran_in,
        calls: real.0.borrow().calls.clone(),
        both,
    };
    // Resolvers and producers are dropped only now, after the states were read (dropping them
    // rejects or closes, a deliberate difference from Lwt). Emptying the world breaks the cycles
    // through the bodies.
    let world = std::mem::take(&mut *real.0.borrow_mut());
    drop(world);
    report
}

// ------------------------------------------------------------------------------------------------
// Cuts: what a deliberate difference may decide
// ------------------------------------------------------------------------------------------------

/// From which operation on each slot and object is no longer compared (`usize::MAX`: never
/// cut); see the module docs.
struct Cuts {
    slot: Vec<usize>,
    obj: Vec<usize>,
}

/// The slots a cancel of `s` may reach: `s`, and through `with_lock` bodies the promises they
/// return.
fn reach(p: &Prog, s: usize) -> Vec<usize> {
    let mut out = vec![s];
    let mut i = 0;
    while i < out.len() {
        for op in &p.ops {
            if let Op::WithLock(d, _, _, _, Body::Existing(j) | Body::Fresh(j)) = *op {
                if d == out[i] && !out.contains(&j) {
                    out.push(j);
                }
            }
        }
        i += 1;
    }
    out
}

fn cuts(p: &Prog, ours: &Report) -> Cuts {
    let steps = &ours.steps;
    let n = p.slots;
    let mut slot = vec![usize::MAX; n];
    let mut obj = vec![usize::MAX; 4 * OBJECTS];
    let mut objs_of = vec![Vec::new(); n];
    let mut reads: Vec<(usize, Obj, bool)> = Vec::new();
    let mut npeeks: Vec<(usize, Obj)> = Vec::new();
    // The stream each stream was derived from directly (over itself, not a clone).
    let mut source: [Option<Obj>; 4 * OBJECTS] = [None; 4 * OBJECTS];
    // The streams on which a read that no slot shows may be pending (see below).
    let mut hidden = [false; 4 * OBJECTS];
    let pending = |k: usize, i: usize| steps[k][i] == St::Pending;
    for (k, op) in p.ops.iter().enumerate() {
        let t = touch(op);
        if let Some(d) = t.slot {
            objs_of[d] = t.objs.clone();
        }
        // A bounded stream's count, bound and whether a push waits, before this operation.
        let bounded = |s: usize| ours.bounded[k][s];
        match *op {
            // A bound of 0: Lwt's push waits for a resize (`bounded_zero_blocks_until_resized`).
            Op::BoundedPush(_, s, _) if bounded(s).is_some_and(|(_, size, _)| size == 0) => {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            // Lwt lets a waiting push in at every read, even one that leaves the stream over a
            // bound that `resize` lowered (`a_read_over_a_lowered_bound_leaves_the_push_waiting`).
            // A `get_available_up_to n` differs only if it takes something (Lwt's first read
            // lets the push in) and stops before the count is under the bound
            // (`1 <= n <= count - size`): past that point the push comes in here too, and is
            // taken if `n` allows, as in Lwt (so a `get_available` never differs).
            Op::Get(_, s)
            | Op::Junk(_, s)
            | Op::Nget(_, s, _)
            | Op::Njunk(_, s, _)
            | Op::Next(_, s)
            | Op::GetWhile(_, s, ..)
            | Op::JunkWhile(_, s, ..)
            | Op::LastNew(_, s)
            | Op::JunkOld(_, s)
                if bounded(s).is_some_and(|(count, size, blocked)| blocked && count > size) =>
            {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            Op::GetUpTo(s, n)
                if bounded(s).is_some_and(|(count, size, blocked)| {
                    blocked && n >= 1 && n + size <= count
                }) =>
            {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            // An `npeek` of more than the bound lets pushes in beyond it here; Lwt's waits for
            // ever (the `stream` module docs, "`nget` and `npeek` are all-or-nothing").
            Op::Npeek(_, s, n) if bounded(s).is_some_and(|(_, size, _)| n > size) => {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            // So does one that a `resize` leaves over the bound while it waits (found at seed 16
            // with 50 operations: `NB 0 3; NP 0 0 2; RS 0 1; BP 1 0 29; BP 2 0 32`).
            Op::Resize(s, size)
                if k > 0
                    && p.ops[..k].iter().any(|o| {
                        matches!(*o, Op::Npeek(j, x, n) if x == s && n > size && pending(k - 1, j))
                    }) =>
            {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            // `get_available` while an `npeek` waits: here it waits its turn (and gives
            // nothing), in Lwt it takes what is buffered.
            Op::GetAvailable(s) | Op::GetUpTo(s, _)
                if k > 0
                    && npeeks
                        .iter()
                        .any(|&(j, o)| o == STREAM * OBJECTS + s && pending(k - 1, j)) =>
            {
                obj[STREAM * OBJECTS + s] = obj[STREAM * OBJECTS + s].min(k);
            }
            _ => {}
        }
        // Lwt's `choose` reads its inputs at once, and again after each element it gives; here
        // it reads them when it is read (`choose_reads_its_inputs_at_once_in_lwt`). Over clones
        // of pushed streams nobody sees the difference, over derived streams their callbacks
        // run, and their elements are pulled, earlier in Lwt: such a `choose` is cut from its
        // making on.
        if let Op::Derived(t, s, Derive::Choose(u), _) = *op {
            let derived = |x: usize| {
                p.ops[..k]
                    .iter()
                    .any(|o| matches!(*o, Op::Derived(y, ..) | Op::NewConcat(y) if y == x))
            };
            if derived(s) || derived(u) {
                obj[STREAM * OBJECTS + t] = obj[STREAM * OBJECTS + t].min(k);
            }
        }
        // A callback promise of a derived stream rejected while no read of it waits: the
        // failure waits for the next read here, Lwt loses it (the `stream` module docs, "A
        // generator failure is never lost"; `a_generator_failure_nobody_waits_for_is_lost_in_lwt`).
        if let Op::CbWake(Owner::Stream(c), _, Err(_)) = *op {
            let o = STREAM * OBJECTS + c;
            if !reads
                .iter()
                .any(|&(j, r, _)| r == o && k > 0 && pending(k - 1, j))
            {
                obj[o] = obj[o].min(k);
            }
        }
        // Lwt's `choose` picks at random among its inputs' reads that are resolved (here they
        // take turns): a `choose` is compared until both inputs have received something.
        for &c in &ours.both[k] {
            obj[STREAM * OBJECTS + c] = obj[STREAM * OBJECTS + c].min(k);
        }
        if let Op::Derived(t, s, _, true) = *op {
            source[STREAM * OBJECTS + t] = Some(STREAM * OBJECTS + s);
        }
        // A canceled read of a stream derived over another one itself: the read of the source
        // it started goes on, on both sides (the element it gets waits in the derived stream),
        // a consuming read that no slot shows. When it ends is not known: the source's later
        // reads may be concurrent with it, and the source is cut at the next one.
        if let Op::Cancel(x) = *op {
            for j in reach(p, x) {
                if k > 0 && pending(k - 1, j) {
                    let of_j: Vec<Obj> = reads.iter().filter(|r| r.0 == j).map(|r| r.1).collect();
                    for &o in of_j.iter().skip(1) {
                        hidden[o] = true;
                    }
                }
            }
        }
        // A `get_available` (`_up_to`), `junk_old` or `last_new` of a stream derived over another
        // one itself calls its generator when nothing is buffered, on both sides, which reads the
        // source and may go on waiting there after the operation (as after a cancel, below):
        // concurrent with a read of the source pending now, or made later.
        if let Op::GetAvailable(x) | Op::GetUpTo(x, _) | Op::JunkOld(_, x) | Op::LastNew(_, x) = *op
        {
            let mut x = STREAM * OBJECTS + x;
            let own = x;
            while let Some(src) = source[x] {
                if hidden[src] || reads.iter().any(|&(j, o, _)| o == src && pending(k - 1, j)) {
                    obj[src] = obj[src].min(k);
                    obj[own] = obj[own].min(k);
                }
                hidden[src] = true;
                x = src;
            }
        }
        // A read of a stream derived directly from a bounded one over a bound that `resize`
        // lowered reads that one (the rule above); so does a `get_available` (`_up_to n`,
        // `n >= 1`) of the derived stream, whose generator calls are `get`s of the source (found
        // at seed 13 with 50 operations: `NB 0 2; DD 1 0 m; BP 0 0 9; BP 1 0 92; RS 0 1;
        // BP 2 0 22; GU 1 1`).
        if t.read.is_some() || matches!(*op, Op::GetAvailable(_) | Op::GetUpTo(_, 1..)) {
            let mut x = t.objs[0];
            while let Some(src) = source[x] {
                let over = ours.bounded[k][src - STREAM * OBJECTS]
                    .is_some_and(|(count, size, blocked)| blocked && count > size);
                if over {
                    obj[src] = obj[src].min(k);
                    obj[t.objs[0]] = obj[t.objs[0]].min(k);
                }
                x = src;
            }
        }
        if let (Some(read), Some(d)) = (t.read, t.slot) {
            let s = t.objs[0];
            // A read of a stream derived directly from another one is a consuming read of that
            // one too (Lwt's `map f s` is `from (fun () -> get s ...)`, even for a `peek`): it
            // may be concurrent with the source's own reads.
            let mut read_of = vec![(s, read)];
            while let Some(src) = source[read_of[read_of.len() - 1].0] {
                read_of.push((src, true));
            }
            for &(x, read) in &read_of {
                // A read while another read of the same stream is pending, one of them
                // consuming.
                if k > 0
                    && (hidden[x]
                        || reads
                            .iter()
                            .any(|&(j, o, c)| o == x && (c || read) && pending(k - 1, j)))
                {
                    obj[x] = obj[x].min(k);
                    obj[s] = obj[s].min(k);
                }
            }
            // An `nget` that waits.
            if matches!(op, Op::Nget(..) | Op::GetWhile(..)) && pending(k, d) {
                obj[s] = obj[s].min(k);
            }
            reads.extend(read_of.iter().map(|&(x, read)| (d, x, read)));
            if matches!(op, Op::Npeek(..)) {
                npeeks.push((d, s));
            }
        }
    }
    loop {
        let before = (slot.clone(), obj.clone());
        for d in 0..n {
            for &o in &objs_of[d] {
                slot[d] = slot[d].min(obj[o]);
            }
        }
        for (k, op) in p.ops.iter().enumerate() {
            match *op {
                Op::WithLock(d, m, l, a, b) => {
                    // An action runs when the body does: as the mutex decides.
                    let when = obj[MUTEX * OBJECTS + m].min(slot[d]);
                    let mut targets = a.map(Act::target);
                    // Two bodies with an action in one operation: the callback order decides
                    // which acts first.
                    if let Some(j) = ours
                        .acted
                        .iter()
                        .position(|ls| ls.len() > 1 && ls.contains(&l))
                    {
                        if let Some((o, x)) = targets.as_mut() {
                            for o in o.iter_mut() {
                                obj[*o] = obj[*o].min(j);
                            }
                            for x in x.iter_mut() {
                                slot[*x] = slot[*x].min(j);
                            }
                        }
                    }
                    // The operation the body ran in, and the slots a body filled in it: a body
                    // returning such a slot, or waking it up, may run before or after it is
                    // filled, as the callback order decides.
                    let ran_in = ours.ran_in.iter().position(|ls| ls.contains(&l));
                    let filled_then = |i: usize| {
                        ran_in.filter(|&j| {
                            (j == 0 || steps[j - 1][i] == St::Absent) && steps[j][i] != St::Absent
                        })
                    };
                    if let Some(j) = match b {
                        Body::Existing(i) => filled_then(i),
                        _ => None,
                    } {
                        slot[d] = slot[d].min(j);
                        obj[MUTEX * OBJECTS + m] = obj[MUTEX * OBJECTS + m].min(j);
                    }
                    if let Some((_, Some(x))) = targets {
                        if let Some(j) = filled_then(x) {
                            slot[x] = slot[x].min(j);
                        }
                    }
                    if let Some((o, x)) = targets {
                        if let Some(o) = o {
                            obj[o] = obj[o].min(when);
                        }
                        if let Some(x) = x {
                            slot[x] = slot[x].min(when);
                        }
                    }
                    if let Body::Existing(i) | Body::Fresh(i) = b {
                        slot[d] = slot[d].min(slot[i]);
                        obj[MUTEX * OBJECTS + m] = obj[MUTEX * OBJECTS + m].min(slot[i]);
                        if let Body::Fresh(i) = b {
                            // Whether (and when) the body runs depends on the mutex.
                            slot[i] = slot[i].min(obj[MUTEX * OBJECTS + m]);
                        }
                    }
                }
                // A derived stream shares its source's elements: a cut of either cuts the other
                // (a source cut before the derivation, from the derivation on).
                Op::Derived(..) | Op::ConcatPush(..) => {
                    let linked = touch(op).objs;
                    let first = linked.iter().map(|&o| obj[o]).min().unwrap_or(usize::MAX);
                    if first != usize::MAX {
                        for o in linked {
                            obj[o] = obj[o].min(first.max(k));
                        }
                    }
                }
                Op::Cancel(s) if slot[s] <= k => {
                    for j in reach(p, s) {
                        slot[j] = slot[j].min(k);
                        for &o in &objs_of[j] {
                            obj[o] = obj[o].min(k);
                        }
                    }
                }
                _ => {}
            }
        }
        if (slot.clone(), obj.clone()) == before {
            break;
        }
    }
    Cuts { slot, obj }
}

// ------------------------------------------------------------------------------------------------
// The OCaml side
// ------------------------------------------------------------------------------------------------

/// Runs programs on Lwt, one process for all of them.
fn run_ocaml(exe: &Path, progs: &[&Prog]) -> Vec<Report> {
    let input: String = progs.iter().map(|p| prog_text(p)).collect();
    let text = ocaml::run(exe, input).unwrap_or_else(|failed| panic!("lwt_diff_sync: {failed}"));
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
            "S" => {}
            "K" => r.calls.push((
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
                w[3..].join(" "),
            )),
            "L" => {
                r.ran.insert(w[1].parse().unwrap());
            }
            "E" => r.escaped = Some(w[1..].join(" ")),
            "done" => reports.push(std::mem::take(&mut r)),
            _ => panic!("lwt_diff_sync: unexpected line {line:?}"),
        }
    }
    assert_eq!(
        reports.len(),
        progs.len(),
        "lwt_diff_sync: a report per program"
    );
    reports
}

// ------------------------------------------------------------------------------------------------
// The comparison
// ------------------------------------------------------------------------------------------------

fn compare(p: &Prog, ours: &Report, lwt: &Report) -> Result<(), String> {
    let cut = cuts(p, ours);
    let mut diffs = String::new();
    // An exception escaping an operation on a cut object (Lwt's `get_available` raises a
    // generator's failure that here waits for a read) ends the Lwt side's run there.
    let escaped_at = lwt.steps.len();
    let escape_cut = p
        .ops
        .get(escaped_at)
        .is_some_and(|op| touch(op).objs.iter().any(|&o| escaped_at >= cut.obj[o]));
    // A `with_lock` body that closes an unbounded stream, run by a callback of that stream's own
    // `close` (its pending read resolved, the lock handed on): Lwt's inner `push None` succeeds
    // and the outer one then raises `Invalid_argument "Lwt.wakeup"` (its `closed` promise was
    // resolved under it); here the inner close does nothing. Lwt's run ends there, so what
    // either side saw from that operation on is not compared (seed 57 with 50 operations,
    // `a_close_run_by_the_same_close_raises_in_lwt`).
    let reentrant_close = lwt.escaped.as_deref() == Some("Invalid_argument(\"Lwt.wakeup\")")
        && p.ops.get(escaped_at).is_some_and(
            |op| matches!(*op, Op::Close(s) if p.ops.iter().any(|w| body_closes(w, s))),
        );
    let end = if reentrant_close {
        escaped_at
    } else {
        usize::MAX
    };
    if let Some(e) = lwt
        .escaped
        .as_ref()
        .filter(|_| !escape_cut && !reentrant_close)
    {
        writeln!(diffs, "an exception escaped on Lwt: {e}").unwrap();
    }
    // The first operation after which a slot differs.
    for i in 0..p.slots {
        let first = ours
            .steps
            .iter()
            .zip(&lwt.steps)
            .enumerate()
            .find(|(k, (a, b))| *k < cut.slot[i] && a[i] != b[i]);
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
    let kept = |r: &Report| -> Vec<(usize, String)> {
        r.queries
            .iter()
            .filter(|(k, _)| *k < end && touch(&p.ops[*k]).objs.iter().all(|&o| *k < cut.obj[o]))
            .cloned()
            .collect()
    };
    let (a, b) = (kept(ours), kept(lwt));
    if a != b {
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        let k = first.map_or(a.len().min(b.len()), |j| j);
        let (x, y) = (a.get(k), b.get(k));
        let at = x.or(y).map(|(k, _)| *k).unwrap_or(0);
        writeln!(
            diffs,
            "query at operation {at} ({}): lwt-core {:?}, Lwt {:?}",
            op_text(&p.ops[at]),
            x.map(|q| &q.1),
            y.map(|q| &q.1)
        )
        .unwrap();
    }
    // The callbacks that one operation runs on behalf of different owners (two `iter_s`
    // over clones of one stream woken by one push, several `on_terminate` of one stream) run in
    // registration order here, newest first in Lwt (the callback order, README): only the order
    // of each owner's calls within the operation is compared, and `on_terminate` calls as a set.
    let calls = |r: &Report| -> Vec<(usize, Obj, String)> {
        let mut kept: Vec<(usize, Obj, String)> = r
            .calls
            .iter()
            .filter(|(k, o, _)| *k < end && *k < cut.obj[*o])
            .cloned()
            .collect();
        let owner = |c: &(usize, Obj, String)| -> String {
            if c.2.starts_with("term") {
                c.2.clone()
            } else {
                c.2.rsplit_once(' ')
                    .map_or(String::new(), |(o, _)| o.to_string())
            }
        };
        kept.sort_by_key(|c| (c.0, owner(c)));
        kept
    };
    let (a, b) = (calls(ours), calls(lwt));
    if a != b {
        let k = a.iter().zip(&b).position(|(x, y)| x != y);
        let k = k.unwrap_or(a.len().min(b.len()));
        let (x, y) = (a.get(k), b.get(k));
        let at = x.or(y).map_or(0, |c| c.0);
        writeln!(
            diffs,
            "callback at operation {at} ({}): lwt-core {:?}, Lwt {:?}",
            op_text(&p.ops[at]),
            x.map(|c| &c.2),
            y.map(|c| &c.2)
        )
        .unwrap();
    }
    let labelled = |r: &Report| -> BTreeSet<u32> {
        r.ran
            .iter()
            .copied()
            .filter(|l| {
                p.ops.iter().any(
                    |op| matches!(*op, Op::WithLock(d, _, l2, ..) if l2 == *l && cut.slot[d] == usize::MAX),
                )
            })
            .collect()
    };
    let (a, b) = (labelled(ours), labelled(lwt));
    // After a re-entrant close, bodies may run here that Lwt's ended run never reached.
    for l in a.difference(&b).filter(|_| !reentrant_close) {
        writeln!(diffs, "with_lock body {l} ran on lwt-core only").unwrap();
    }
    for l in b.difference(&a) {
        writeln!(diffs, "with_lock body {l} ran on Lwt only").unwrap();
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs)
    }
}

/// Whether `op` is a `with_lock` whose body closes stream `s` first.
fn body_closes(op: &Op, s: usize) -> bool {
    matches!(*op, Op::WithLock(_, _, _, Some(Act::Close(t)), _) if t == s)
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

/// For the figures: the reads of a stream derived over another one itself, or of such a source
/// once derived, compared in the operation that made them.
fn direct_reads_compared(p: &Prog, cut: &Cuts) -> usize {
    let mut linked = BTreeSet::new();
    let mut n = 0;
    for (k, op) in p.ops.iter().enumerate() {
        if let Op::Derived(t, s, _, true) = *op {
            linked.extend([t, s]);
        }
        let t = touch(op);
        if let (Some(_), Some(d)) = (t.read, t.slot) {
            let s = t.objs[0] - STREAM * OBJECTS;
            if linked.contains(&s) && cut.slot[d] > k {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn sync_programs_agree_with_ocaml_lwt() {
    let Some(exe) = ocaml::interpreter("lwt_diff_sync", "lwt") else {
        eprintln!(
            "ocaml_diff_sync: SKIPPED: `ocamlfind query lwt` failed (OCaml and Lwt are needed)"
        );
        return;
    };
    let cases = env("OCAML_DIFF_SYNC_CASES", 12000);
    let seed = env("OCAML_DIFF_SYNC_SEED", 1);
    let max_ops = env("OCAML_DIFF_SYNC_MAX_OPS", 30);
    let keep_going = env("OCAML_DIFF_SYNC_KEEP_GOING", 0) != 0;
    if let Ok(case) = std::env::var("OCAML_DIFF_SYNC_CASE") {
        // One case: print it, for a hand run of the interpreter.
        let p = generate(&mut Rng::for_case(seed, case.parse().unwrap()), max_ops);
        eprint!("{}", prog_text(&p));
        return;
    }
    let mut failures = Vec::new();
    let (mut compared, mut cut_slots, mut cut_queries) = (0usize, 0usize, 0usize);
    let (mut calls, mut cut_calls, mut direct_reads) = (0usize, 0usize, 0usize);
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
            let cut = cuts(p, &ours);
            compared += cut.slot.iter().filter(|&&c| c == usize::MAX).count();
            cut_slots += cut.slot.iter().filter(|&&c| c != usize::MAX).count();
            cut_queries += ours
                .queries
                .iter()
                .filter(|(k, _)| touch(&p.ops[*k]).objs.iter().any(|&o| *k >= cut.obj[o]))
                .count();
            let cut_now = ours
                .calls
                .iter()
                .filter(|(k, o, _)| *k >= cut.obj[*o])
                .count();
            calls += ours.calls.len() - cut_now;
            cut_calls += cut_now;
            direct_reads += direct_reads_compared(p, &cut);
            if let Err(e) = compare(p, &ours, lwt) {
                let (small, why) = shrink(&exe, p.clone());
                failures.push(ocaml::differing_case(
                    "ocaml_diff_sync",
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
        "ocaml_diff_sync: {cases} cases from seed {seed}: {compared} slots compared to the end, \
         {cut_slots} cut (compared up to their cut), {cut_queries} queries cut, {calls} callback \
         calls compared ({cut_calls} cut), {direct_reads} reads of a stream derived over itself or \
         of its source compared, {} differing",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// What the comparison found
// ------------------------------------------------------------------------------------------------
//
// Each was checked against Lwt 5.6.1 with `lwt_diff_sync.ml`. The two that the `stream` module
// keeps on purpose (its docs, "Differences from Lwt, on purpose") pin lwt-core's behaviour and
// say what Lwt does, as `ocaml_diff.rs`'s do; the third asserts what Lwt does, which lwt-core now
// does too.

/// A bound of 0 is a rendezvous here (the `create_bounded` docs; `tests/stream.rs`,
/// `bounded_zero_is_a_rendezvous`): the waiting `get` takes 5 at once and the push is fulfilled.
/// Lwt's `push` waits while `count >= size`, which is always, and a read never takes a waiting
/// push's element: `get` then `push 5` on `create_bounded 0` leave both pending; `resize 1` lets
/// the push in (fulfilled, count 1), but the `get` that was waiting stays pending for ever
/// (nothing signals it), while a new `get` returns 5 (`NB 0 0; GT 0 0; BP 1 0 5; RS 0 1; GT 2 0`).
#[test]
fn bounded_zero_is_a_rendezvous_where_lwt_deadlocks() {
    let (s, push) = stream::create_bounded::<i64>(0);
    let first = s.get();
    let p = push.push(5);
    let before = (first.state(), p.state());
    push.resize(1);
    let after = (p.state(), push.count(), s.get().state());
    assert_eq!(
        (before, after),
        (
            (State::Fulfilled(Some(5)), State::Fulfilled(())),
            (State::Fulfilled(()), 0, State::Pending)
        ),
        "Lwt: (Pending, Pending), then (Fulfilled, 1, Fulfilled 5) with the first get pending"
    );
}

/// `get_available` on a full bounded stream with a waiting push: taking an element makes room,
/// which lets the waiting push in, and `get_available` reads on, so it takes the pushed element
/// too (Lwt's `consume` calls `notify_pusher`). `create_bounded 1`, `push 7`, `push 40` (waits),
/// `get_available` gives `[7; 40]`, count 0 after (`NB 0 1; BP 0 0 7; BP 1 0 40; GA 0`).
#[test]
fn get_available_takes_the_waiting_push() {
    let (s, push) = stream::create_bounded::<i64>(1);
    assert!(push.push(7).is_fulfilled());
    let waiting = push.push(40);
    assert!(waiting.is_pending());
    let got = s.get_available();
    assert!(waiting.is_fulfilled());
    assert_eq!((got, push.count()), (vec![7, 40], 0));
}

/// A read from a bounded stream that `resize` left over its bound, with a push waiting: here the
/// push waits until the count is under the new bound (after another read), keeping the bound the
/// user set. Lwt lets the waiting push in at every read (`consume` calls `notify_pusher` whatever
/// the count: it assumes a push waits only while the count equals the bound, which a lowering
/// `resize` breaks), so its stream stays over the bound. `create_bounded 2`, `push 61`,
/// `push 98`, `resize 1`, `push 68` (waits), `get` (61): on Lwt the push is fulfilled and the
/// count stays 2 (`[98; 68]` buffered) (`NB 0 2; BP 0 0 61; BP 1 0 98; RS 0 1; BP 2 0 68; GT 3 0`).
#[test]
fn a_read_over_a_lowered_bound_leaves_the_push_waiting() {
    /// Fills a bounded stream of 2 with `a` and `b`, lowers its bound to 1 and pushes `c`,
    /// which waits: the push's promise.
    fn over_the_bound(push: &BoundedPush<i64>, [a, b, c]: [i64; 3]) -> Promise<()> {
        assert!(push.push(a).is_fulfilled());
        assert!(push.push(b).is_fulfilled());
        push.resize(1);
        push.push(c)
    }
    /// After one read: the push still waits, one element buffered (Lwt: fulfilled, count 2).
    fn still_waiting(waiting: &Promise<()>, push: &BoundedPush<i64>) {
        assert_eq!(
            (waiting.state(), push.count()),
            (State::Pending, 1),
            "Lwt: the push is fulfilled, count 2"
        );
    }
    let (s, push) = stream::create_bounded::<i64>(2);
    let waiting = over_the_bound(&push, [61, 98, 68]);
    assert_eq!(s.get().state(), State::Fulfilled(Some(61)));
    still_waiting(&waiting, &push);
    assert_eq!(s.get().state(), State::Fulfilled(Some(98)));
    assert_eq!((waiting.state(), push.count()), (State::Fulfilled(()), 1));
    // So does `get_available_up_to 1` (`... BP 2 0 68; GU 0 1`: on Lwt `[61]`, the push is
    // fulfilled, count 2), while `get_available` ends with the same as on Lwt (the push comes in
    // once the count is under the bound, and is taken: `[61; 98; 68]`).
    let (s, push) = stream::create_bounded::<i64>(2);
    let waiting = over_the_bound(&push, [61, 98, 68]);
    assert_eq!(s.get_available_up_to(1), vec![61]);
    still_waiting(&waiting, &push);
    assert_eq!(s.get_available(), vec![98, 68]);
    assert_eq!((waiting.state(), push.count()), (State::Fulfilled(()), 0));
    // And so does a `get_available_up_to 1` of a `map` over the stream itself, whose generator
    // `get`s one element of it (Lwt's `map f s` is `from (fun () -> get s >|= ...)`): on Lwt
    // 5.6.1 `[1009]`, the push is fulfilled, count 2, not blocked (`NB 0 2; DD 1 0 m;
    // BP 0 0 9; BP 1 0 92; RS 0 1; BP 2 0 22; GU 1 1`, found at seed 13 with 50 operations).
    let (s, push) = stream::create_bounded::<i64>(2);
    let m = s.map(|x| x + 1000);
    let waiting = over_the_bound(&push, [9, 92, 22]);
    assert_eq!(m.get_available_up_to(1), vec![1009]);
    still_waiting(&waiting, &push);
}

/// A waiter's `on_cancel` handler that hands over what the waiter waited for: unlocks the
/// mutex, puts into the mailbox, or takes from it while its put is canceled. Lwt 5.6.1 runs that
/// handler before the one that takes the waiter out of the queue (its callbacks run newest
/// first), so the hand-over goes to the canceled waiter and is lost: `lock m` (held), `a = lock
/// m`, `b = lock m`, `on_cancel a (fun () -> unlock m)`, `cancel a` leaves `b` pending and `m`
/// locked for ever; `take v` twice on an empty mailbox, the first's handler `put v 5`, cancel
/// it: the second take stays pending and the 5 is gone; `create 1`, `put v 2` whose handler
/// `take_available v`, cancel the put: the handler gets 1 and the canceled put's 2 goes into
/// the mailbox. Here a canceled waiter is never served (the `sync` module docs): `b` gets the
/// lock, the second take the 5, and the mailbox stays empty. (Checked in review, rev130,
/// session 47; a `Condition.signal` from such a handler reaches the next waiter on both.)
#[test]
fn a_hand_over_from_a_canceled_waiter_s_handler_is_not_lost() {
    let m = Mutex::new();
    let _held = m.lock();
    let a = m.lock();
    let b = m.lock();
    let m2 = m.clone();
    a.on_cancel(move || m2.unlock());
    a.cancel();
    assert_eq!(
        (b.state(), m.is_locked()),
        (State::Fulfilled(()), true),
        "Lwt: b pending"
    );

    let v = Mvar::<i64>::create_empty();
    let first = v.take();
    let second = v.take();
    let v2 = v.clone();
    first.on_cancel(move || drop(v2.put(5)));
    first.cancel();
    assert_eq!(second.state(), State::Fulfilled(5), "Lwt: pending, 5 lost");

    let v = Mvar::create(1_i64);
    let put = v.put(2);
    let v2 = v.clone();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    put.on_cancel(move || *g.borrow_mut() = v2.take_available());
    put.cancel();
    assert_eq!(
        (*got.borrow(), v.is_empty()),
        (Some(1), true),
        "Lwt: (Some 1, false)"
    );
}

/// A stream closed again by a callback of its own `close` (found at seed 57 with 50 operations,
/// shrunk to `NM 0; NS 1; GT 3 1; WL 4 0 1 e 3; WL 9 0 2 e/CL.1 6; CL 1`): the close resolves the
/// pending `get`, which ends the first `with_lock` body and hands the lock to the second, whose
/// body closes the stream again. In Lwt 5.6.1 that inner `push None` succeeds, and the outer one
/// then raises `Invalid_argument "Lwt.wakeup"`, having resolved its stream's `closed` promise
/// under it. Here the inner close does nothing and the outer one returns normally, so the
/// comparison ends at that operation, where Lwt's run does.
#[test]
fn a_close_run_by_the_same_close_raises_in_lwt() {
    let (s, push) = stream::create::<i64>();
    let push = Rc::new(push);
    let got = s.get();
    let again = push.clone();
    let after = got.map(move |x| {
        again.close();
        x
    });
    push.close();
    assert_eq!(
        after.state(),
        State::Fulfilled(None),
        "Lwt: the close raises"
    );
    assert!(s.is_closed());

    let (m, st) = (0, 1);
    let prog = Prog {
        slots: 10,
        ops: vec![
            Op::NewMutex(m),
            Op::NewStream(st),
            Op::Get(3, st),
            Op::WithLock(4, m, 1, None, Body::Existing(3)),
            Op::WithLock(9, m, 2, Some(Act::Close(st)), Body::Existing(6)),
            Op::Close(st),
            Op::IsLocked(m),
        ],
    };
    let ours = run_crate(&prog);
    assert_eq!(ours.escaped, None);
    assert_eq!(ours.ran, BTreeSet::from([1, 2]));
    if let Some(exe) = ocaml::interpreter("lwt_diff_sync", "lwt") {
        let lwt = run_ocaml(&exe, &[&prog]).pop().unwrap();
        assert_eq!(
            (lwt.escaped.as_deref(), lwt.steps.len()),
            (Some("Invalid_argument(\"Lwt.wakeup\")"), 5),
            "Lwt 5.6.1 raises at the close"
        );
        compare(&prog, &ours, &lwt).unwrap();
    }
}

// The `npeek` operations (added with `next`, `njunk`, `get_while` & co., `last_new` and
// `junk_old`, where no difference was found) met three differences the `stream` module keeps on
// purpose (its docs: "Concurrent reads of one stream are served in order", "`nget` and `npeek`
// are all-or-nothing"), left out of the comparison by [`cuts`]. These tests assert what Lwt
// 5.6.1 does (checked with `lwt_diff_sync.ml`), so they fail here: run them with `--ignored`
// to see the difference.

/// `choose` over a `from` stream (or a `map_s` stream, ...): Lwt's `choose` starts a read on
/// each input when it is made, and on the input it took an element from as soon as it gives it,
/// so the generator runs before anyone reads the result (`NS 0; DV 2 0 G; PU 0 60; D2 3 0 2 h`
/// calls the `filter_s` callback on 60 at the `choose`); here `choose` reads its inputs when it
/// is read, like the other derived streams (the `stream` module docs).
#[test]
#[ignore = "differs from Lwt on purpose: choose reads its inputs only when it is read"]
fn choose_reads_its_inputs_at_once_in_lwt() {
    use std::cell::Cell;
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let input = stream::from(move || {
        c.set(c.get() + 1);
        Promise::ret(Some(c.get()))
    });
    let both = stream::choose(vec![input]);
    let made = calls.get();
    let first = both.get();
    assert_eq!(
        (made, first.state(), calls.get()),
        (1, State::Fulfilled(Some(1)), 2),
        "Lwt: the generator is called at the choose, and again once it gave 1"
    );
}

/// `NS 0; PU 0 67; DV 2 0 P; JO 5 2; CF s2 0 3; GT 15 2`: `junk_old` starts the
/// `filter_map_s` callback and returns; the callback fails while no read waits. Lwt loses the
/// failure (the next `get` calls the generator again, and waits); here it rejects the next read
/// (the `stream` module docs, "A generator failure is never lost").
#[test]
#[ignore = "differs from Lwt on purpose: a generator failure is never lost"]
fn a_generator_failure_nobody_waits_for_is_lost_in_lwt() {
    let (s, push) = stream::create::<i64>();
    let (p, r) = wait::<Option<i64>>();
    let mut p = Some(p);
    let derived = s.filter_map_s(move |_| p.take().unwrap_or_else(|| wait().0));
    push.push(67).unwrap();
    assert!(derived.junk_old().is_fulfilled());
    r.wakeup_exn(Exn::failure("3"));
    assert_eq!(derived.get().state(), State::Pending, "Lwt: the get waits");
}

/// `NS 0; PK 0 0; NP 1 0 0`: Lwt's `npeek 0` returns `[]` at once while a `peek` waits; here it
/// waits behind the `peek`, its turn (lwt-core: pending).
#[test]
#[ignore = "differs from Lwt on purpose: reads of one stream are served in order"]
fn npeek_zero_behind_a_waiting_peek_is_at_once_in_lwt() {
    let (s, _push) = stream::create::<i64>();
    let peek = s.peek();
    let none = s.npeek(0);
    assert!(peek.is_pending());
    assert_eq!(none.state(), State::Fulfilled(vec![]), "Lwt: [] at once");
}

/// `NS 0; NP 0 0 2; PU 0 14; PK 1 0; GA 0`: while an `npeek 2` waits, Lwt's `peek` sees 14 and
/// `get_available` takes `[14]`; here both wait their turn behind the `npeek` (the `peek`
/// pending, `get_available` gives `[]`).
#[test]
#[ignore = "differs from Lwt on purpose: reads of one stream are served in order"]
fn reads_behind_a_waiting_npeek_go_ahead_in_lwt() {
    let (s, push) = stream::create::<i64>();
    let two = s.npeek(2);
    push.push(14).unwrap();
    let peek = s.peek();
    let got = s.get_available();
    assert!(two.is_pending());
    assert_eq!(
        (peek.state(), got),
        (State::Fulfilled(Some(14)), vec![14]),
        "Lwt: the peek sees 14, get_available takes [14]"
    );
}

/// `NB 0 1; BP 0 0 92; BP 1 0 64; NP 2 0 2; BQ 0`: an `npeek` of more than the bound on a full
/// bounded stream waits for ever in Lwt (the waiting push stays pending, count 1, blocked);
/// here it lets the push in beyond the bound (both fulfilled, `[92; 64]`, count 2).
#[test]
#[ignore = "differs from Lwt on purpose: npeek of more than the bound lets pushes in"]
fn npeek_over_the_bound_waits_for_ever_in_lwt() {
    let (s, push) = stream::create_bounded::<i64>(1);
    assert!(push.push(92).is_fulfilled());
    let waiting = push.push(64);
    let two = s.npeek(2);
    assert_eq!(
        (waiting.state(), two.state(), push.count(), push.blocked()),
        (State::Pending, State::Pending, 1, true),
        "Lwt: the push and the npeek wait for ever"
    );
}

/// `NB 0 3; NP 0 0 2; RS 0 1; BP 1 0 29; BP 2 0 32; BQ 0` (found at seed 16 with 50
/// operations): an `npeek 2` made under the bound, which a `resize 1` then leaves over it. Lwt
/// 5.6.1 lets 29 in (count 0 < 1), then the push of 32 waits (count 1, blocked) and the `npeek`
/// with it, for ever, as in `npeek_over_the_bound_waits_for_ever_in_lwt`; here the `npeek`,
/// holding a full bound, lets 32 in beyond it (both fulfilled, `[29; 32]`, count 2).
#[test]
#[ignore = "differs from Lwt on purpose: npeek of more than the bound lets pushes in"]
fn npeek_over_a_lowered_bound_waits_for_ever_in_lwt() {
    let (s, push) = stream::create_bounded::<i64>(3);
    let two = s.npeek(2);
    push.resize(1);
    assert!(push.push(29).is_fulfilled());
    let second = push.push(32);
    assert_eq!(
        (second.state(), two.state(), push.count(), push.blocked()),
        (State::Pending, State::Pending, 1, true),
        "Lwt: the push and the npeek wait for ever"
    );
}
