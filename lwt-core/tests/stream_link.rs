//! A differential test of the derived streams (`map`, `filter`, `filter_map`), which run on a
//! direct link to their source, against `filter_map_s`, which is built as Lwt builds them (a
//! `from` stream whose generator reads the source and returns a promise).
//!
//! Each side is two layers: the filter-map under test, and a `map` (`map_s` on the reference side)
//! over it, so that a link also reads from a derived stream. Both start as handles, and both get
//! the same random pushes, closes, reads, `find`s (consumers, which read through the stream's
//! pipeline path), clones, drops, cancellations and `get_available`s; after every step each read
//! made on one must stand exactly where its twin on the other stands.

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::stream::{self, Push, Stream};
use lwt_core::{Promise, State};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push(i32),
    Close,
    Get(usize),
    NGet(usize, usize),
    Peek(usize),
    Clone(usize),
    Drop(usize),
    Cancel(usize),
    Available(usize),
    /// Reads the source directly (it competes with the derived stream for elements).
    GetSource,
    /// A consumer: the first element divisible by 3.
    Find(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (-20..20i32).prop_map(Op::Push),
        1 => Just(Op::Close),
        4 => (0..3usize).prop_map(Op::Get),
        1 => (0..3usize, 0..4usize).prop_map(|(c, n)| Op::NGet(c, n)),
        1 => (0..3usize).prop_map(Op::Peek),
        1 => (0..3usize).prop_map(Op::Clone),
        1 => (0..3usize).prop_map(Op::Drop),
        2 => (0..12usize).prop_map(Op::Cancel),
        1 => (0..3usize).prop_map(Op::Available),
        1 => Just(Op::GetSource),
        2 => (0..3usize).prop_map(Op::Find),
    ]
}

/// The step under test: drops odd numbers, panics on 13, halves the rest. `calls` counts the
/// calls (both pipelines must call it equally often).
fn step(calls: &Rc<RefCell<u32>>, x: i32) -> Option<i32> {
    *calls.borrow_mut() += 1;
    assert_ne!(x, 13, "thirteen");
    (x % 2 == 0).then_some(x / 2)
}

/// One side of the comparison.
struct Side {
    push: Option<Push<i32>>,
    source: Stream<i32>,
    handles: Vec<Option<Stream<i32>>>,
    reads: Vec<Read>,
    calls: Rc<RefCell<u32>>,
}

enum Read {
    One(Promise<Option<i32>>),
    Many(Promise<Vec<i32>>),
    Now(Vec<i32>),
}

/// A read's state, comparable across the two sides (rejections by their message).
#[derive(Debug, PartialEq)]
enum Seen {
    Pending,
    One(Option<i32>),
    Many(Vec<i32>),
    Rejected(String),
}

fn seen<T: Clone + 'static>(p: &Promise<T>, f: impl FnOnce(T) -> Seen) -> Seen {
    match p.state() {
        State::Pending => Seen::Pending,
        State::Fulfilled(v) => f(v),
        State::Rejected(e) => Seen::Rejected(e.to_string()),
    }
}

impl Side {
    fn new(linked: bool) -> Side {
        let (s, push) = stream::create::<i32>();
        let source = s.clone();
        let calls = Rc::new(RefCell::new(0));
        let c = calls.clone();
        let (derived, outer) = if linked {
            let d = s.filter_map(move |x| step(&c, x));
            let outer = d.clone().map(|x| x + 100);
            (d, outer)
        } else {
            let d = s.filter_map_s(move |x| Promise::ret(step(&c, x)));
            let outer = d.clone().map_s(|x| Promise::ret(x + 100));
            (d, outer)
        };
        Side {
            push: Some(push),
            source,
            handles: vec![Some(derived), Some(outer)],
            reads: Vec::new(),
            calls,
        }
    }

    fn handle(&self, i: usize) -> Option<&Stream<i32>> {
        self.handles.get(i).and_then(Option::as_ref)
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Push(x) => {
                if let Some(push) = &self.push {
                    let _ = push.push(x);
                }
            }
            Op::Close => {
                if let Some(push) = self.push.take() {
                    push.close();
                }
            }
            Op::Get(i) => {
                if let Some(h) = self.handle(i) {
                    let p = h.get();
                    self.reads.push(Read::One(p));
                }
            }
            Op::NGet(i, n) => {
                if let Some(h) = self.handle(i) {
                    let p = h.nget(n);
                    self.reads.push(Read::Many(p));
                }
            }
            Op::Peek(i) => {
                if let Some(h) = self.handle(i) {
                    let p = h.peek();
                    self.reads.push(Read::One(p));
                }
            }
            Op::Clone(i) => {
                if let Some(h) = self.handle(i) {
                    let c = h.clone();
                    self.handles.push(Some(c));
                }
            }
            Op::Drop(i) => {
                if let Some(slot) = self.handles.get_mut(i) {
                    slot.take();
                }
            }
            Op::Cancel(k) => match self.reads.get(k) {
                Some(Read::One(p)) => p.cancel(),
                Some(Read::Many(p)) => p.cancel(),
                _ => {}
            },
            Op::Available(i) => {
                if let Some(h) = self.handle(i) {
                    let v = h.get_available();
                    self.reads.push(Read::Now(v));
                }
            }
            Op::GetSource => {
                let p = self.source.get();
                self.reads.push(Read::One(p));
            }
            Op::Find(i) => {
                if let Some(h) = self.handle(i) {
                    let p = h.find(|x| x % 3 == 0);
                    self.reads.push(Read::One(p));
                }
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.reads
            .iter()
            .map(|r| match r {
                Read::One(p) => seen(p, Seen::One),
                Read::Many(p) => seen(p, Seen::Many),
                Read::Now(v) => Seen::Many(v.clone()),
            })
            .collect()
    }
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    // The step panics on 13 on purpose (its message is printed; both sides must reject alike).
    let mut linked = Side::new(true);
    let mut reference = Side::new(false);
    for (i, op) in ops.iter().enumerate() {
        linked.apply(op);
        reference.apply(op);
        prop_assert_eq!(
            linked.seen(),
            reference.seen(),
            "after step {} ({:?}) of {:?}",
            i,
            op,
            ops
        );
        prop_assert_eq!(*linked.calls.borrow(), *reference.calls.borrow());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn a_linked_filter_map_reads_like_the_promise_built_one(ops in prop::collection::vec(op(), 0..40)) {
        check(&ops)?;
    }
}

#[test]
fn map_and_filter_over_a_waiting_reader_apply_the_step_once_per_element_in_order() {
    let (s, push) = stream::create::<i32>();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let evens = s
        .map(move |x| {
            l.borrow_mut().push(x);
            x * 10
        })
        .filter(|x| x % 20 == 0);
    let sum = evens.fold(0, |acc, x| acc + x);
    for i in 1..=6 {
        push.push(i).unwrap();
    }
    push.close();
    assert_eq!(sum.state(), State::Fulfilled(20 + 40 + 60));
    assert_eq!(*log.borrow(), [1, 2, 3, 4, 5, 6]);
}

/// A consumer on a derived stream takes an element its link answers at once straight from the
/// link (it never enters the buffer) only while no other cursor could read it. A step that
/// clones the stream while it computes that element makes a second reader: the element must
/// then reach both.
#[test]
fn a_clone_made_by_the_step_while_a_consumer_pulls_still_gets_the_element() {
    let (s, push) = stream::create::<i32>();
    push.push(1).unwrap();
    push.push(2).unwrap();
    let slot: Rc<RefCell<Option<Stream<i32>>>> = Rc::default();
    let clones = Rc::new(RefCell::new(Vec::new()));
    let (sl, cl) = (slot.clone(), clones.clone());
    let derived = s.map(move |x| {
        if let Some(h) = sl.borrow().as_ref() {
            if cl.borrow().is_empty() {
                cl.borrow_mut().push(h.clone());
            }
        }
        x * 10
    });
    // The step sees the consumer's own handle (one cursor), not a clone of it.
    *slot.borrow_mut() = Some(derived);
    let first = slot.borrow().as_ref().unwrap().find(|_| true);
    assert_eq!(first.state(), State::Fulfilled(Some(10)));
    let derived = slot.borrow_mut().take().unwrap();
    let clone = clones
        .borrow_mut()
        .pop()
        .expect("the step cloned the stream");
    push.close();
    assert_eq!(clone.to_list().state(), State::Fulfilled(vec![10, 20]));
    assert_eq!(derived.to_list().state(), State::Fulfilled(vec![20]));
}

/// A read that a map step files on its own stream while `get_available` asks the link gets the
/// element the step made once `get_available` returns (it used to wait for ever: nothing served
/// the filed read after the generator answered).
#[test]
fn a_read_filed_by_the_step_during_get_available_gets_the_element() {
    let (s, push) = stream::create::<i32>();
    let slot: Rc<RefCell<Option<Rc<Stream<i32>>>>> = Rc::default();
    let reads = Rc::new(RefCell::new(Vec::new()));
    let (sl, rd) = (slot.clone(), reads.clone());
    let derived = Rc::new(s.map(move |x| {
        if rd.borrow().is_empty() {
            let h = sl.borrow().clone().expect("the handle is in the slot");
            rd.borrow_mut().push(h.get());
        }
        x * 10
    }));
    *slot.borrow_mut() = Some(derived.clone());
    push.push(1).unwrap();
    assert_eq!(
        derived.get_available(),
        Vec::<i32>::new(),
        "the filed read is first"
    );
    assert_eq!(reads.borrow()[0].state(), State::Fulfilled(Some(10)));
    slot.borrow_mut().take();
}

/// A reader filed while the link's answer is already buffered at its position (the source
/// answered at top level while the request was being made, and a clone wanting more asked the
/// link again) is served at once, not when the source next produces.
fn read_with_the_answer_buffered_behind_the_request(consumer: bool) {
    let (s, push) = stream::create_bounded::<i32>(0);
    let slot: Rc<RefCell<Option<Stream<i32>>>> = Rc::default();
    let keep = Rc::new(RefCell::new(Vec::new()));
    let (sl, kp) = (slot.clone(), keep.clone());
    let derived = s.map(move |x| {
        if kp.borrow().is_empty() {
            if let Some(h) = sl.borrow().as_ref() {
                let c = h.clone();
                let p = c.nget(2);
                kp.borrow_mut().push((c, p));
            }
        }
        x * 10
    });
    *slot.borrow_mut() = Some(derived);
    let _pushed = push.push(1);
    let first = {
        let h = slot.borrow();
        let h = h.as_ref().unwrap();
        if consumer {
            h.find(|_| true)
        } else {
            h.get()
        }
    };
    assert_eq!(
        first.state(),
        State::Fulfilled(Some(10)),
        "consumer: {consumer}"
    );
}

#[test]
fn a_get_filed_with_an_element_already_buffered_for_it_gets_it_at_once() {
    read_with_the_answer_buffered_behind_the_request(false);
}

#[test]
fn a_consumer_filed_with_an_element_already_buffered_for_it_gets_it_at_once() {
    read_with_the_answer_buffered_behind_the_request(true);
}
