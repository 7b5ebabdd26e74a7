//! A model-based test of `stream`: random pushes, closes, reads (`get`, `nget`, `peek`,
//! `get_while`, `get_available`, `get_available_up_to`), clones,
//! drops and cancellations on a push stream (unbounded, or bounded with its waiting push) and its
//! clones, checked after every step against a plain model (a list of pushed elements, a position
//! per reader, a FIFO of reads per reader).

use std::collections::VecDeque;

use lwt_core::stream::{self, Stream};
use lwt_core::{Promise, State};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Push(i32),
    Close,
    Get(usize),
    NGet(usize, usize),
    Peek(usize),
    /// `get_while(|x| x < t)` on a reader.
    While(usize, i8),
    Clone(usize),
    Drop(usize),
    Cancel(usize),
    CancelPush,
    Resize(usize),
    Available(usize),
    UpTo(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<i8>().prop_map(|x| Op::Push(x as i32)),
        1 => Just(Op::Close),
        4 => (0..4usize).prop_map(Op::Get),
        2 => (0..4usize, 0..4usize).prop_map(|(c, n)| Op::NGet(c, n)),
        1 => (0..4usize).prop_map(Op::Peek),
        2 => (0..4usize, any::<i8>()).prop_map(|(c, t)| Op::While(c, t)),
        2 => (0..4usize).prop_map(Op::Clone),
        1 => (0..4usize).prop_map(Op::Drop),
        2 => (0..16usize).prop_map(Op::Cancel),
        1 => (0..4usize).prop_map(Op::Available),
        1 => (0..4usize, 0..4usize).prop_map(|(c, n)| Op::UpTo(c, n)),
        1 => Just(Op::CancelPush),
        1 => (0..4usize).prop_map(Op::Resize),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Get,
    NGet(usize),
    Peek,
    /// `get_while(|x| x < t)`: takes the passing elements as they come (they go back if it is
    /// canceled or fails), ends at the first failing one (left in place) or the end.
    While(i32),
}

/// What a read should be, in the model.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Pending,
    One(Option<i32>),
    Many(Vec<i32>),
    Canceled,
}

enum Real {
    One(Promise<Option<i32>>),
    Many(Promise<Vec<i32>>),
}

impl Real {
    fn observe(&self) -> Expect {
        match self {
            Real::One(p) => match p.state() {
                State::Pending => Expect::Pending,
                State::Fulfilled(v) => Expect::One(v),
                State::Rejected(e) if e.is_canceled() => Expect::Canceled,
                State::Rejected(e) => panic!("unexpected rejection {e}"),
            },
            Real::Many(p) => match p.state() {
                State::Pending => Expect::Pending,
                State::Fulfilled(v) => Expect::Many(v),
                State::Rejected(e) if e.is_canceled() => Expect::Canceled,
                State::Rejected(e) => panic!("unexpected rejection {e}"),
            },
        }
    }

    fn cancel(&self) {
        match self {
            Real::One(p) => p.cancel(),
            Real::Many(p) => p.cancel(),
        }
    }
}

struct Reader {
    pos: usize,
    attached: bool,
    reads: VecDeque<(usize, Kind)>,
}

#[derive(Default)]
struct Model {
    pushed: Vec<i32>,
    closed: bool,
    readers: Vec<Reader>,
    expect: Vec<Expect>,
    /// What each `get_while` has taken so far, by read index.
    taken: Vec<Vec<i32>>,
    /// Bounded streams: the bound, and the waiting push (its element and its index in `pushes`).
    bound: Option<usize>,
    waiting_push: Option<(i32, usize)>,
    /// What each bounded push should be: `None` pending, `Some(Ok)` in, `Some(Err(name))`.
    pushes: Vec<Option<Result<(), &'static str>>>,
}

impl Model {
    fn serve(&mut self) {
        loop {
            self.serve_reads();
            if !self.refill() {
                break;
            }
        }
    }

    fn waiting(&self) -> bool {
        self.readers.iter().any(|r| !r.reads.is_empty())
    }

    fn room(&self) -> bool {
        self.room_if(self.waiting())
    }

    /// Is there room for the waiting push, `waiting` telling whether a reader waits (on an empty
    /// buffer it takes the element: a rendezvous)?
    fn room_if(&self, waiting: bool) -> bool {
        let len = self.buffered();
        self.bound
            .is_none_or(|size| len < size || (len == 0 && waiting) || self.wants_more_than_held())
    }

    /// `get_available_up_to(limit)` on reader `c`: the elements it has not read, and, as taking
    /// them makes room, the waiting push's element (`get_available` counts as a waiting reader).
    /// Nothing if reads are pending on `c`.
    fn available(&mut self, c: usize, limit: usize) -> Vec<i32> {
        let mut out = Vec::new();
        if !self.readers[c].reads.is_empty() {
            return out;
        }
        loop {
            let r = &mut self.readers[c];
            while out.len() < limit && r.pos < self.pushed.len() {
                out.push(self.pushed[r.pos]);
                r.pos += 1;
            }
            if out.len() >= limit || !self.room_if(true) {
                return out;
            }
            let Some((x, i)) = self.waiting_push.take() else {
                return out;
            };
            self.pushed.push(x);
            self.pushes[i] = Some(Ok(()));
        }
    }

    /// A reader that holds a full bound has an `nget` of more as its first read: pushes come in
    /// beyond the bound.
    fn wants_more_than_held(&self) -> bool {
        let len = self.pushed.len();
        let size = self.bound.unwrap_or(usize::MAX);
        self.readers.iter().any(|r| {
            let held = len - r.pos;
            matches!(r.reads.front(), Some(&(_, Kind::NGet(n))) if n > held && held >= size)
        })
    }

    fn refill(&mut self) -> bool {
        match self.waiting_push {
            Some((x, i)) if self.room() => {
                self.pushed.push(x);
                self.pushes[i] = Some(Ok(()));
                self.waiting_push = None;
                true
            }
            _ => false,
        }
    }

    /// A pending read is withdrawn (canceled or failed): a `get_while` puts back what it took.
    fn withdraw(&mut self, id: usize) {
        let taken = std::mem::take(&mut self.taken[id]);
        for r in &mut self.readers {
            if r.reads.iter().any(|(i, _)| *i == id) {
                r.pos -= taken.len();
            }
            r.reads.retain(|(i, _)| *i != id);
        }
    }

    fn serve_reads(&mut self) {
        let len = self.pushed.len();
        for r in &mut self.readers {
            while let Some(&(id, kind)) = r.reads.front() {
                let avail = len - r.pos;
                let result = match kind {
                    Kind::Get if avail > 0 => {
                        r.pos += 1;
                        Expect::One(Some(self.pushed[r.pos - 1]))
                    }
                    Kind::Peek if avail > 0 => Expect::One(Some(self.pushed[r.pos])),
                    Kind::Get | Kind::Peek if self.closed => Expect::One(None),
                    Kind::NGet(n) if avail >= n || self.closed => {
                        let k = n.min(avail);
                        r.pos += k;
                        Expect::Many(self.pushed[r.pos - k..r.pos].to_vec())
                    }
                    Kind::While(t) => {
                        while r.pos < len && self.pushed[r.pos] < t {
                            self.taken[id].push(self.pushed[r.pos]);
                            r.pos += 1;
                        }
                        if r.pos == len && !self.closed {
                            break;
                        }
                        Expect::Many(std::mem::take(&mut self.taken[id]))
                    }
                    _ => break,
                };
                self.expect[id] = result;
                r.reads.pop_front();
            }
        }
    }

    /// Elements still buffered: from the slowest live reader on.
    fn buffered(&self) -> usize {
        self.readers
            .iter()
            .filter(|r| r.attached || !r.reads.is_empty())
            .map(|r| self.pushed.len() - r.pos)
            .max()
            .unwrap_or(0)
    }
}

enum Producer {
    Push(stream::Push<i32>),
    Bounded(stream::BoundedPush<i32>),
}

fn push_state(p: &Promise<()>) -> Option<Result<(), &'static str>> {
    match p.state() {
        State::Pending => None,
        State::Fulfilled(()) => Some(Ok(())),
        State::Rejected(e) if e.is::<stream::Closed>() => Some(Err("closed")),
        State::Rejected(e) if e.is::<stream::Full>() => Some(Err("full")),
        State::Rejected(e) if e.is_canceled() => Some(Err("canceled")),
        State::Rejected(e) => panic!("unexpected push rejection {e}"),
    }
}

fn run(ops: Vec<Op>, bound: Option<usize>) -> Result<(), TestCaseError> {
    let (s, producer) = match bound {
        None => {
            let (s, p) = stream::create::<i32>();
            (s, Producer::Push(p))
        }
        Some(size) => {
            let (s, p) = stream::create_bounded::<i32>(size);
            (s, Producer::Bounded(p))
        }
    };
    let mut handles: Vec<Option<Stream<i32>>> = vec![Some(s)];
    let mut reads: Vec<Real> = Vec::new();
    let mut pushes: Vec<Promise<()>> = Vec::new();
    let mut model = Model {
        bound,
        ..Model::default()
    };
    model.readers.push(Reader {
        pos: 0,
        attached: true,
        reads: VecDeque::new(),
    });
    for op in ops {
        let live: Vec<usize> = (0..handles.len())
            .filter(|&i| handles[i].is_some())
            .collect();
        let pick = |i: usize| live.get(i % live.len().max(1)).copied();
        match op {
            Op::Push(x) => match &producer {
                Producer::Push(push) => {
                    let r = push.push(x);
                    prop_assert_eq!(r.is_ok(), !model.closed);
                    if !model.closed {
                        model.pushed.push(x);
                    }
                }
                Producer::Bounded(push) => {
                    pushes.push(push.push(x));
                    let i = model.pushes.len();
                    let expected = if model.closed {
                        Some(Err("closed"))
                    } else if model.waiting_push.is_some() {
                        Some(Err("full"))
                    } else if model.room() {
                        model.pushed.push(x);
                        Some(Ok(()))
                    } else {
                        model.waiting_push = Some((x, i));
                        None
                    };
                    model.pushes.push(expected);
                }
            },
            Op::Close => {
                match &producer {
                    Producer::Push(push) => push.close(),
                    Producer::Bounded(push) => push.close(),
                }
                model.closed = true;
                if let Some((_, i)) = model.waiting_push.take() {
                    model.pushes[i] = Some(Err("closed"));
                }
            }
            Op::CancelPush => {
                if let Some((_, i)) = model.waiting_push.take() {
                    pushes[i].cancel();
                    model.pushes[i] = Some(Err("canceled"));
                }
            }
            Op::Resize(size) => {
                if let Producer::Bounded(push) = &producer {
                    push.resize(size);
                    model.bound = Some(size);
                }
            }
            Op::Get(c) | Op::NGet(c, _) | Op::Peek(c) | Op::While(c, _) => {
                let Some(c) = pick(c) else { continue };
                let h = handles[c].as_ref().unwrap();
                let (real, kind) = match op {
                    Op::Get(_) => (Real::One(h.get()), Kind::Get),
                    Op::Peek(_) => (Real::One(h.peek()), Kind::Peek),
                    Op::NGet(_, n) => (Real::Many(h.nget(n)), Kind::NGet(n)),
                    Op::While(_, t) => {
                        let t = i32::from(t);
                        (Real::Many(h.get_while(move |x| *x < t)), Kind::While(t))
                    }
                    _ => unreachable!(),
                };
                model.expect.push(Expect::Pending);
                model.taken.push(Vec::new());
                model.readers[c].reads.push_back((reads.len(), kind));
                reads.push(real);
            }
            Op::Clone(c) => {
                let Some(c) = pick(c) else { continue };
                let copy = handles[c].as_ref().unwrap().clone();
                handles.push(Some(copy));
                let pos = model.readers[c].pos;
                model.readers.push(Reader {
                    pos,
                    attached: true,
                    reads: VecDeque::new(),
                });
            }
            Op::Drop(c) => {
                if live.len() <= 1 {
                    continue;
                }
                let Some(c) = pick(c) else { continue };
                handles[c] = None;
                model.readers[c].attached = false;
            }
            Op::Cancel(i) => {
                if reads.is_empty() {
                    continue;
                }
                let i = i % reads.len();
                reads[i].cancel();
                if model.expect[i] == Expect::Pending {
                    model.expect[i] = Expect::Canceled;
                    model.withdraw(i);
                }
            }
            Op::Available(c) | Op::UpTo(c, _) => {
                let Some(c) = pick(c) else { continue };
                let h = handles[c].as_ref().unwrap();
                let (got, limit) = match op {
                    Op::UpTo(_, n) => (h.get_available_up_to(n), n),
                    _ => (h.get_available(), usize::MAX),
                };
                prop_assert_eq!(got, model.available(c, limit));
            }
        }
        model.serve();
        for (i, real) in reads.iter().enumerate() {
            prop_assert_eq!(real.observe(), model.expect[i].clone(), "read {}", i);
        }
        let any = handles.iter().flatten().next().unwrap();
        prop_assert_eq!(any.buffered(), model.buffered(), "buffered");
        for (i, p) in pushes.iter().enumerate() {
            prop_assert_eq!(push_state(p), model.pushes[i], "push {}", i);
        }
        if let Producer::Bounded(push) = &producer {
            prop_assert_eq!(push.blocked(), model.waiting_push.is_some(), "blocked");
            prop_assert_eq!(push.count(), model.buffered(), "count");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stream_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, None)?;
    }

    #[test]
    fn bounded_stream_matches_the_model(
        size in 0..4usize,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(ops, Some(size))?;
    }
}

// ---- a generator source (`from`) --------------------------------------------------------------

#[derive(Clone, Debug)]
enum GenOp {
    Get(usize),
    NGet(usize, usize),
    /// `get_while(|x| x < t)` on a reader.
    While(usize, i8),
    Clone(usize),
    Drop(usize),
    Cancel(usize),
    Available(usize),
    /// The pending generation answers: an element, the end, or a failure.
    Answer(Option<i8>, bool),
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        4 => (0..4usize).prop_map(GenOp::Get),
        2 => (0..4usize, 0..4usize).prop_map(|(c, n)| GenOp::NGet(c, n)),
        2 => (0..4usize, any::<i8>()).prop_map(|(c, t)| GenOp::While(c, t)),
        2 => (0..4usize).prop_map(GenOp::Clone),
        1 => (0..4usize).prop_map(GenOp::Drop),
        2 => (0..16usize).prop_map(GenOp::Cancel),
        1 => (0..4usize).prop_map(GenOp::Available),
        6 => (proptest::option::weighted(0.95, any::<i8>()), proptest::bool::weighted(0.15))
            .prop_map(|(x, fail)| GenOp::Answer(x, fail)),
    ]
}

#[derive(Default)]
struct GenModel {
    m: Model,
    in_flight: bool,
    failure: bool,
    calls: usize,
    /// Rejected reads, by index (with the failure).
    failed: Vec<usize>,
}

impl GenModel {
    fn process(&mut self) {
        loop {
            self.m.serve();
            if self.m.waiting() {
                if self.failure {
                    self.failure = false;
                    self.reject_blocked();
                    continue;
                }
                if !self.in_flight && !self.m.closed {
                    self.in_flight = true;
                    self.calls += 1;
                }
            }
            break;
        }
    }

    fn reject_blocked(&mut self) -> bool {
        let mut any = false;
        for r in &mut self.m.readers {
            if let Some((id, _)) = r.reads.pop_front() {
                // A failed `get_while` puts back what it took.
                r.pos -= std::mem::take(&mut self.m.taken[id]).len();
                self.failed.push(id);
                self.m.expect[id] = Expect::Canceled; // placeholder, checked via `failed`
                any = true;
            }
        }
        any
    }
}

fn observe_gen(real: &Real) -> Result<Expect, String> {
    match real {
        Real::One(p) => match p.state() {
            State::Rejected(e) if !e.is_canceled() => Err(e.to_string()),
            _ => Ok(real.observe()),
        },
        Real::Many(p) => match p.state() {
            State::Rejected(e) if !e.is_canceled() => Err(e.to_string()),
            _ => Ok(real.observe()),
        },
    }
}

fn run_gen(ops: Vec<GenOp>) -> Result<(), TestCaseError> {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    type Answers = Rc<RefCell<VecDeque<lwt_core::Resolver<Option<i32>>>>>;
    let answers: Answers = Rc::default();
    let calls = Rc::new(Cell::new(0_usize));
    let (a, c) = (answers.clone(), calls.clone());
    let s = stream::from(move || {
        c.set(c.get() + 1);
        let (p, r) = lwt_core::wait();
        a.borrow_mut().push_back(r);
        p
    });
    let mut handles: Vec<Option<Stream<i32>>> = vec![Some(s)];
    let mut reads: Vec<Real> = Vec::new();
    let mut model = GenModel::default();
    model.m.readers.push(Reader {
        pos: 0,
        attached: true,
        reads: VecDeque::new(),
    });
    for op in ops {
        let live: Vec<usize> = (0..handles.len())
            .filter(|&i| handles[i].is_some())
            .collect();
        let pick = |i: usize| live.get(i % live.len().max(1)).copied();
        match op {
            GenOp::Get(c) | GenOp::NGet(c, _) | GenOp::While(c, _) => {
                let Some(c) = pick(c) else { continue };
                let h = handles[c].as_ref().unwrap();
                let (real, kind) = match op {
                    GenOp::Get(_) => (Real::One(h.get()), Kind::Get),
                    GenOp::NGet(_, n) => (Real::Many(h.nget(n)), Kind::NGet(n)),
                    GenOp::While(_, t) => {
                        let t = i32::from(t);
                        (Real::Many(h.get_while(move |x| *x < t)), Kind::While(t))
                    }
                    _ => unreachable!(),
                };
                model.m.expect.push(Expect::Pending);
                model.m.taken.push(Vec::new());
                model.m.readers[c].reads.push_back((reads.len(), kind));
                reads.push(real);
            }
            GenOp::Clone(c) => {
                let Some(c) = pick(c) else { continue };
                let copy = handles[c].as_ref().unwrap().clone();
                handles.push(Some(copy));
                let pos = model.m.readers[c].pos;
                model.m.readers.push(Reader {
                    pos,
                    attached: true,
                    reads: VecDeque::new(),
                });
            }
            GenOp::Drop(c) => {
                if live.len() <= 1 {
                    continue;
                }
                let Some(c) = pick(c) else { continue };
                handles[c] = None;
                model.m.readers[c].attached = false;
            }
            GenOp::Cancel(i) => {
                if reads.is_empty() {
                    continue;
                }
                let i = i % reads.len();
                reads[i].cancel();
                if model.m.expect[i] == Expect::Pending {
                    model.m.expect[i] = Expect::Canceled;
                    model.m.withdraw(i);
                }
            }
            GenOp::Available(c) => {
                let Some(c) = pick(c) else { continue };
                let got = handles[c].as_ref().unwrap().get_available();
                let r = &mut model.m.readers[c];
                let expected: Vec<i32> = if r.reads.is_empty() {
                    let v = model.m.pushed[r.pos..].to_vec();
                    r.pos = model.m.pushed.len();
                    if !model.failure && !model.in_flight && !model.m.closed {
                        model.in_flight = true;
                        model.calls += 1;
                    }
                    v
                } else {
                    Vec::new()
                };
                prop_assert_eq!(got, expected);
            }
            GenOp::Answer(x, fail) => {
                let Some(r) = answers.borrow_mut().pop_front() else {
                    continue;
                };
                prop_assert!(model.in_flight);
                model.in_flight = false;
                if fail {
                    r.wakeup_exn(lwt_core::Exn::failure("generator failed"));
                    if !model.reject_blocked() {
                        model.failure = true;
                    }
                } else {
                    let x = x.map(i32::from);
                    r.wakeup(x);
                    match x {
                        Some(x) => model.m.pushed.push(x),
                        None => model.m.closed = true,
                    }
                }
            }
        }
        model.process();
        prop_assert_eq!(calls.get(), model.calls, "generator calls");
        prop_assert!(answers.borrow().len() <= 1, "two generations at once");
        for (i, real) in reads.iter().enumerate() {
            let seen = observe_gen(real);
            if model.failed.contains(&i) {
                prop_assert_eq!(seen, Err("generator failed".to_string()), "read {}", i);
            } else {
                prop_assert_eq!(seen, Ok(model.m.expect[i].clone()), "read {}", i);
            }
        }
        let any = handles.iter().flatten().next().unwrap();
        prop_assert_eq!(any.buffered(), model.m.buffered(), "buffered");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generator_stream_matches_the_model(ops in proptest::collection::vec(gen_op(), 1..60)) {
        run_gen(ops)?;
    }
}
