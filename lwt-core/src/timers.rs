//! The loop's timers: a binary heap of deadlines over a slab of resolvers.
//!
//! A sleep is a `task()` promise whose resolver sits in a slot of the slab; the heap holds one
//! `(deadline, sequence, slot)` entry per occupied slot, earliest first (the sequence number
//! keeps timers with equal deadlines in creation order). Adding a timer is a heap push and a
//! slot write: no hashing, and no allocation once the slab and the heap have grown. A deadline is
//! kept as nanoseconds since the timers' epoch (a `u64`, good for 584 years), which makes an entry
//! 24 bytes instead of 32 and a comparison one integer compare instead of two: the heap's sifts
//! are most of the cost of a timer.
//!
//! Canceling a sleep rejects its promise and tells the timers through a weak link (no cancel
//! hook is registered, so a timer costs no callback); the slab drops canceled timers lazily, in
//! three places:
//!
//! * when a canceled timer reaches the top of the heap ([`Timers::next_deadline`] and
//!   [`Timers::pop_due`] drop it), so the loop never waits for a deadline nobody wants;
//! * when the slab has doubled since the last sweep ([`Timers::add`] then drops every canceled
//!   timer and rebuilds the heap), so a program that cancels many long timers keeps at most about
//!   twice as many entries as it has live timers, for O(1) amortized work per timer;
//! * when the timers canceled since the last sweep are half the entries
//!   ([`Timers::note_canceled`]), so a burst of canceled timers gives its memory back at once,
//!   even when no timer is added after it.
//!
//! Until then a canceled timer keeps its slot, and [`Timers::live`] does not count it.
//!
//! Invariant: each occupied slot has exactly one entry, in the heap or, during a pass of
//! [`Timers::pop_due`], set aside, and each entry names an occupied slot. Slots are freed only
//! together with their entry (pop, or the sweep's rebuild), so a reused slot is never reached
//! through a stale entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::node::CancelListener;
use crate::resolver::Resolver;

/// The sweep of canceled timers runs when the slab holds this many entries, or twice as many as
/// after the last sweep.
const FIRST_SWEEP: usize = 64;

/// A slab of more slots than this, left with no timer in it, gives its memory back (see
/// [`Timers::give_back_if_empty`]).
const KEEP_SLOTS: usize = 1024;

/// One heap entry: the deadline (nanoseconds since the epoch), the creation sequence (ties in
/// creation order), the slot.
type Entry = Reverse<(u64, u64, u32)>;

/// How far back the epoch lies: deadlines up to a century in the past keep their order (a
/// `sleep_until` of an instant taken before the loop's timers existed is common); the 584 years of
/// a `u64` leave 484 ahead, more than the longest sleep.
const HISTORY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The instant deadlines are counted from: a century ago, or as far back as the clock goes.
fn epoch() -> Instant {
    let now = Instant::now();
    [HISTORY, HISTORY / 100, Duration::from_secs(3600)]
        .into_iter()
        .find_map(|back| now.checked_sub(back))
        .unwrap_or(now)
}

/// The timers of one loop.
pub(crate) struct Timers {
    /// Deadlines are counted from here; earlier ones count as the epoch itself (they are due, and
    /// fire in creation order among themselves).
    epoch: Instant,
    heap: BinaryHeap<Entry>,
    slots: Vec<Option<Resolver<()>>>,
    free: Vec<usize>,
    next_sequence: u64,
    sweep_at: usize,
    /// The timers made since a pass's mark that [`pop_due`](Timers::pop_due) found on top of
    /// older due ones and set aside for the rest of the pass; empty outside a pass, its memory
    /// kept (a loop of zero sleeps goes there on every iteration).
    aside: Vec<Entry>,
    /// The mark of the pass that set `aside`.
    aside_mark: u64,
    /// Timers canceled since the last sweep (as told by [`CancelCounter`]; some may have left
    /// the heap since, from its top).
    canceled: usize,
    /// Entries taken out of the heap by `pop_due` (a test's measure of its work).
    #[cfg(test)]
    popped: u64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            epoch: epoch(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_sequence: 0,
            sweep_at: FIRST_SWEEP,
            aside: Vec::new(),
            aside_mark: 0,
            canceled: 0,
            #[cfg(test)]
            popped: 0,
        }
    }
}

fn waiting(slot: &Option<Resolver<()>>) -> bool {
    slot.as_ref().is_some_and(Resolver::is_pending)
}

impl Timers {
    /// Is there no timer at all (live or canceled)?
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.aside.is_empty()
    }

    /// How many timers still wait (canceled ones not counted). O(number of entries).
    pub(crate) fn live(&self) -> usize {
        self.slots.iter().filter(|s| waiting(s)).count()
    }

    /// `instant` as nanoseconds since the epoch (0 before it; saturated 584 years after it).
    pub(crate) fn ticks(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant of `ticks` nanoseconds after the epoch.
    fn instant(&self, ticks: u64) -> Instant {
        let since = Duration::from_nanos(ticks);
        self.epoch
            .checked_add(since)
            .unwrap_or(self.epoch + Duration::from_secs(u32::MAX.into()))
    }

    /// Adds a timer that wakes `resolver` at `deadline`.
    pub(crate) fn add(&mut self, deadline: Instant, resolver: Resolver<()>) {
        if self.heap.len() >= self.sweep_at {
            self.sweep();
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(resolver);
                slot
            }
            None => {
                self.slots.push(Some(resolver));
                self.slots.len() - 1
            }
        };
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let slot = u32::try_from(slot).expect("fewer than 2^32 timers at once");
        self.heap
            .push(Reverse((self.ticks(deadline), sequence, slot)));
    }

    /// Empties the slot of the heap's top entry, which the caller has just popped.
    fn release(&mut self, slot: u32) -> Option<Resolver<()>> {
        let slot = slot as usize;
        self.free.push(slot);
        self.slots[slot].take()
    }

    /// Drops every canceled timer and rebuilds the heap from the live ones.
    fn sweep(&mut self) {
        self.restore_aside();
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.retain(|&Reverse((_, _, slot))| {
            let slot = slot as usize;
            if waiting(&self.slots[slot]) {
                return true;
            }
            self.slots[slot] = None;
            self.free.push(slot);
            false
        });
        if self.slots.capacity() > KEEP_SLOTS.max(4 * entries.len()) {
            self.compact(&mut entries);
        }
        self.heap = BinaryHeap::from(entries);
        self.sweep_at = FIRST_SWEEP.max(2 * self.heap.len());
        self.canceled = 0;
        self.give_back_if_empty();
    }

    /// Moves the live timers of `entries` (every entry, the sweep having just dropped the
    /// others) to a slab of about their number, renumbering their slots, so that a burst of
    /// timers canceled behind live ones gives the slab's and the heap's memory back too (100,000
    /// canceled behind one live timer kept 62 B each). The heap's entries are the only holders
    /// of slot numbers, and the sweep rebuilds the heap from them.
    fn compact(&mut self, entries: &mut Vec<Entry>) {
        let mut slots = Vec::with_capacity(2 * entries.len());
        for Reverse((_, _, slot)) in entries.iter_mut() {
            slots.push(self.slots[*slot as usize].take());
            *slot = u32::try_from(slots.len() - 1).expect("fewer slots than before");
        }
        self.slots = slots;
        self.free = Vec::new();
        entries.shrink_to(2 * entries.len());
    }

    /// A timer was canceled. Once the timers canceled since the last sweep are half of the
    /// entries (and at least [`FIRST_SWEEP`]), sweeps them: O(1) amortized per cancel, and a
    /// burst of canceled timers gives its memory back now, not at its deadline, nor at the next
    /// `add` that finds the heap doubled, which may never come (a periodic tick earlier than
    /// them, re-armed, keeps them from the top of the heap).
    ///
    /// Once as many timers were canceled as there are entries (all of them, unless some left
    /// from the top of the heap meanwhile), it sweeps at any count: the last few of a burst,
    /// below [`FIRST_SWEEP`], would otherwise hold the slab until the loop next looks at its
    /// timers, and the slab's memory with them ([`give_back_if_empty`](Self::give_back_if_empty)).
    pub(crate) fn note_canceled(&mut self) {
        self.canceled += 1;
        let entries = self.heap.len() + self.aside.len();
        if (self.canceled >= FIRST_SWEEP && 2 * self.canceled >= entries)
            || self.canceled >= entries
        {
            self.sweep();
        }
    }

    /// The sequence number the next timer will get: the timers made from now on are those whose
    /// sequence is at least this ([`pop_due`](Self::pop_due)'s `made_before`).
    pub(crate) fn mark(&self) -> u64 {
        self.next_sequence
    }

    /// Takes out the earliest live timer due at `now` and made before the mark `made_before`
    /// ([`mark`](Self::mark)), dropping canceled ones found on the way. The loop takes due timers
    /// one at a time, waking each before it takes the next, so that a nested loop turned from a
    /// timer's callback (exit hooks) fires the rest itself, in order. `now` is in the heap's ticks
    /// ([`ticks`](Self::ticks)), converted once per pass, and `pass` is the mark taken when the
    /// pass began. The loop's mark `made_before` is taken when an iteration first looks at its
    /// timers: a timer made since (a zero sleep made by a timer's callback) waits for the next
    /// iteration, as on Lwt, whose libev looks at its timers once per iteration.
    ///
    /// A timer made during this pass and due already (a `sleep_until` of an instant past) can
    /// sit on top of older due ones: it is set aside (in `aside`) until the pass ends, that is
    /// until this returns `None`, or until the heap is looked at otherwise (see
    /// [`restore_aside`](Self::restore_aside)), and the older ones fire, as libev fires every
    /// timer it found due before it runs their callbacks. Each is set aside once per pass: put
    /// back after every timer taken, as they once were, `n` due timers whose callbacks each made
    /// a zero sleep cost O(n²) (50,000 timers: 3.8 s instead of 56 ms).
    ///
    /// A timer made before this pass but since `made_before` (by a callback of the iteration's
    /// first look, for its second look after the poll) and due now ends the pass instead: the
    /// older timers behind it, due later, wait with it for the next iteration, which fires them
    /// all in deadline order. Set aside too, it let them fire first when the poll returned late
    /// (a `with_timeout` made there lost to an operation due after its timeout); Lwt's timers
    /// made by a callback carry the loop's cached time, so libev never meets that order.
    pub(crate) fn pop_due(
        &mut self,
        now: u64,
        made_before: u64,
        pass: u64,
    ) -> Option<Resolver<()>> {
        if self.aside_mark != pass {
            // Another pass (a nested loop's): what this one set aside may be due in it.
            self.restore_aside();
        }
        while let Some(&Reverse((deadline, sequence, slot))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            if sequence >= made_before {
                let live = waiting(&self.slots[slot as usize]);
                if live && sequence < pass {
                    break;
                }
                let entry = self.heap.pop().expect("peeked");
                #[cfg(test)]
                {
                    self.popped += 1;
                }
                if live {
                    self.aside_mark = pass;
                    self.aside.push(entry);
                } else {
                    drop(self.release(slot));
                }
                continue;
            }
            self.heap.pop();
            #[cfg(test)]
            {
                self.popped += 1;
            }
            if let Some(r) = self.release(slot) {
                if r.is_pending() {
                    return Some(r);
                }
            }
        }
        self.restore_aside();
        self.give_back_if_empty();
        None
    }

    /// With no timer left (canceled ones included), a slab grown past [`KEEP_SLOTS`] by a burst
    /// gives its memory back, with the heap's and the free list's: 1,000,000 timers fired left
    /// about 50 MB allocated behind them (rev71, session 37). A program's steady state, below
    /// that or never empty, keeps its memory, so this costs nothing per timer.
    #[inline]
    fn give_back_if_empty(&mut self) {
        if self.slots.capacity() > KEEP_SLOTS && self.free.len() == self.slots.len() {
            debug_assert!(self.heap.is_empty() && self.aside.is_empty());
            self.slots = Vec::new();
            self.free = Vec::new();
            self.heap = BinaryHeap::new();
        }
    }

    /// Puts the timers [`pop_due`](Self::pop_due) set aside back into the heap. Called at the
    /// end of a pass and before anything else reads or rebuilds the heap, so that outside a
    /// pass the heap holds every timer.
    #[inline]
    fn restore_aside(&mut self) {
        // Apart, so that the test inlines into every caller, each iteration's among them,
        // whatever the inliner decides about the callers' size.
        #[inline(never)]
        fn restore(timers: &mut Timers) {
            timers.heap.extend(timers.aside.drain(..));
        }
        if !self.aside.is_empty() {
            restore(self);
        }
    }

    /// Every live timer due at `now`, in deadline order.
    #[cfg(test)]
    fn expired(&mut self, now: Instant, due: &mut Vec<Resolver<()>>) {
        let now = self.ticks(now);
        let mark = self.mark();
        due.extend(std::iter::from_fn(|| self.pop_due(now, mark, mark)));
    }

    /// The deadline of the earliest live timer, dropping canceled ones found on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.restore_aside();
        while let Some(&Reverse((deadline, _, slot))) = self.heap.peek() {
            if waiting(&self.slots[slot as usize]) {
                return Some(self.instant(deadline));
            }
            self.heap.pop();
            drop(self.release(slot));
        }
        self.give_back_if_empty();
        None
    }

    /// Gives up every resolver without resolving it (the loop's thread is exiting).
    pub(crate) fn forget_all(&mut self) {
        self.heap.clear();
        self.aside.clear();
        self.free.clear();
        std::mem::forget(std::mem::take(&mut self.slots));
    }
}

/// The cancel link of every sleep (see `HowToCancel::CancelThisAndTell`): tells the loop's
/// timers that one was canceled, so that they can count the dead entries and sweep them (see
/// [`Timers::note_canceled`]). One per loop, reached through a weak pointer from each sleep:
/// no allocation and no callback per timer.
pub(crate) struct CancelCounter;

impl CancelListener for CancelCounter {
    fn canceled(self: Rc<Self>) {
        crate::engine::try_with(|e| e.timer_canceled());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promise::Promise;
    use crate::resolver::task;

    #[test]
    fn canceled_timers_are_swept_so_entries_stay_within_twice_the_live_ones() {
        let mut timers = Timers::default();
        let far = Instant::now() + Duration::from_secs(3600);
        let live: Vec<_> = (0..10)
            .map(|_| {
                let (p, r) = task::<()>();
                timers.add(far, r);
                p
            })
            .collect();
        for _ in 0..100_000 {
            let (p, r) = task::<()>();
            timers.add(far, r);
            p.cancel();
            assert!(timers.heap.len() <= FIRST_SWEEP.max(2 * 11) + 1);
            assert_eq!(timers.heap.len(), timers.slots.len() - timers.free.len());
        }
        assert_eq!(timers.live(), 10);
        drop(live);
    }

    /// Adds `n` timers at `deadline` and cancels them, telling `timers` as the loop's
    /// `CancelCounter` would.
    fn add_and_cancel(timers: &mut Timers, deadline: Instant, n: usize) {
        let canceled: Vec<_> = (0..n)
            .map(|_| {
                let (p, r) = task::<()>();
                timers.add(deadline, r);
                p
            })
            .collect();
        for p in &canceled {
            p.cancel();
            timers.note_canceled();
        }
    }

    /// Found in review (rev71, session 37): the slab and the heap kept the size of the largest
    /// burst of timers for good. Emptied, they give it back.
    #[test]
    fn a_burst_of_timers_gives_its_memory_back_once_gone() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let fired: Vec<_> = (0..5000)
            .map(|i| {
                let (p, r) = task::<()>();
                timers.add(t0 + Duration::from_nanos(i), r);
                p
            })
            .collect();
        let now = timers.ticks(t0 + Duration::from_secs(1));
        let mark = timers.mark();
        let mut woken = 0;
        while let Some(r) = timers.pop_due(now, mark, mark) {
            r.wakeup(());
            woken += 1;
        }
        assert_eq!(woken, 5000);
        assert!(fired.iter().all(Promise::is_fulfilled));
        assert_eq!((timers.slots.capacity(), timers.heap.capacity()), (0, 0));
        // Canceled, through a sweep.
        let far = t0 + Duration::from_secs(3600);
        add_and_cancel(&mut timers, far, 5000);
        assert!(timers.slots.capacity() <= KEEP_SLOTS);
        assert_eq!(timers.next_deadline(), None);
        // Behind a live timer (found when scale.rs's test of it failed): the sweeps move the live
        // ones to a smaller slab.
        let (live, r) = task::<()>();
        timers.add(t0 + Duration::from_secs(10), r);
        add_and_cancel(&mut timers, far, 5000);
        assert!(
            timers.slots.capacity() <= 2 * KEEP_SLOTS,
            "{}",
            timers.slots.capacity()
        );
        assert!(timers.heap.capacity() <= 2 * KEEP_SLOTS);
        assert_eq!(timers.live(), 1);
        // The live timer still fires, from its new slot.
        let now = timers.ticks(t0 + Duration::from_secs(11));
        let mark = timers.mark();
        let r = timers.pop_due(now, mark, mark).expect("the live timer");
        r.wakeup(());
        assert!(live.is_fulfilled());
        // A small steady state keeps its memory.
        let (_p, r) = task::<()>();
        timers.add(far, r);
        assert!(timers.slots.capacity() > 0);
    }

    /// Found by review (session 24): timers made since the pass's mark and due already (the
    /// zero sleeps a timer's callbacks make) were set aside and put back around every due timer
    /// taken under them: O(n²) for n due timers whose callbacks each make one (50,000 timers:
    /// 3.8 s instead of 56 ms). Each is now set aside once per pass: the entries the heap gives
    /// up during the pass are counted, new and old alike.
    #[test]
    fn due_timers_under_zero_sleeps_made_during_the_pass_are_taken_in_linear_work() {
        const N: u64 = 2_000;
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let mut promises = Vec::new();
        for i in 0..N {
            let (p, r) = task::<()>();
            timers.add(t0 + Duration::from_micros(i + 1), r);
            promises.push(p);
        }
        let (now, mark) = (timers.ticks(t0 + Duration::from_secs(1)), timers.mark());
        let mut fired = 0;
        while let Some(r) = timers.pop_due(now, mark, mark) {
            r.wakeup(());
            fired += 1;
            // The callback's zero sleep: due at once, earlier than every timer left.
            let (p, r) = task::<()>();
            timers.add(t0, r);
            promises.push(p);
        }
        assert_eq!(fired, N);
        assert_eq!(
            timers.popped,
            2 * N,
            "entries taken out of the heap in the pass"
        );
        // The new timers are back in the heap, due in the next pass.
        assert_eq!(
            timers.next_deadline(),
            Some(timers.instant(timers.ticks(t0)))
        );
        let next = timers.mark();
        assert_eq!(
            std::iter::from_fn(|| timers.pop_due(now, next, next)).count(),
            N as usize
        );
    }

    /// A timer made since the iteration's mark but before the pass (by a callback of the first
    /// look), and due, ends the pass: an older timer due after it waits with it, and the next
    /// iteration fires both in deadline order (timers_fuzz, seed 1, case 962). A canceled one
    /// does not stop the pass.
    #[test]
    fn a_due_timer_made_before_the_pass_since_the_mark_holds_back_the_older_ones_due_after_it() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut promises = Vec::new();
        let mut add = |timers: &mut Timers, i: usize, ms: u64| {
            let (p, r) = task::<()>();
            timers.add(at(ms), r);
            promises.push((i, p));
        };
        add(&mut timers, 0, 10); // old, due first
        add(&mut timers, 1, 20); // old, due after the new one
        let mark = timers.mark();
        add(&mut timers, 2, 15); // made by a callback of the first look
        add(&mut timers, 3, 12); // the same, canceled
        promises[3].1.cancel();
        let (now, pass) = (timers.ticks(at(25)), timers.mark());
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(now, mark, pass)).collect();
        assert_eq!(wake_in_turn(due, &mut promises), [0]);
        let next = timers.mark();
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(now, next, next)).collect();
        assert_eq!(wake_in_turn(due, &mut promises), [2, 1]);
        assert!(promises[0].1.is_rejected());
    }

    /// Wakes `due` in the order given and names the promise each one resolved (removing it).
    fn wake_in_turn(
        due: Vec<Resolver<()>>,
        promises: &mut Vec<(usize, Promise<()>)>,
    ) -> Vec<usize> {
        due.into_iter()
            .map(|r| {
                r.wakeup(());
                let position = promises.iter().position(|(_, p)| p.is_fulfilled()).unwrap();
                promises.remove(position).0
            })
            .collect()
    }

    #[test]
    fn deadlines_before_the_timers_existed_keep_their_order() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut promises = Vec::new();
        for (i, back_ms) in [10u64, 30, 20].into_iter().enumerate() {
            let (p, r) = task::<()>();
            timers.add(t0 - Duration::from_millis(back_ms), r);
            promises.push((i, p));
        }
        assert_eq!(timers.next_deadline(), Some(t0 - Duration::from_millis(30)));
        let mut due = Vec::new();
        timers.expired(Instant::now(), &mut due);
        assert_eq!(wake_in_turn(due, &mut promises), [1, 2, 0]);
    }

    #[test]
    fn the_longest_sleep_fits() {
        let mut timers = Timers::default();
        let far = Instant::now() + crate::unix::FOREVER;
        let (p, r) = task::<()>();
        timers.add(far, r);
        assert_eq!(timers.next_deadline(), Some(far));
        let mut due = Vec::new();
        timers.expired(Instant::now(), &mut due);
        assert!(due.is_empty());
        drop(p);
    }

    #[test]
    fn due_timers_come_out_in_deadline_then_creation_order_and_canceled_ones_are_skipped() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut promises = Vec::new();
        for (i, ms) in [30u64, 10, 20, 10, 0].into_iter().enumerate() {
            let (p, r) = task::<()>();
            timers.add(at(ms), r);
            promises.push((i, p));
        }
        promises[2].1.cancel(); // the 20 ms one
        assert_eq!(timers.next_deadline(), Some(at(0)));
        let mut due = Vec::new();
        timers.expired(at(25), &mut due);
        assert_eq!(due.len(), 3);
        assert_eq!(wake_in_turn(due, &mut promises), [4, 1, 3]);
        assert_eq!(timers.next_deadline(), Some(at(30)));
        assert_eq!(timers.live(), 1);
    }
}
