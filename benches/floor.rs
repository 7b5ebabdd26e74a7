//! How close is lwt's pending bind to the cheapest one safe Rust allows?
//!
//! Issue 7 asks for half of OCaml Lwt's time on `pending-bind` (create a pending promise, bind
//! on it, resolve it, read the result). This bench puts a number on what that target demands:
//! it runs the same workload on `lwt` and on a *toy* promise written below, the least a pending
//! bind can do in safe Rust with the system allocator:
//!
//! * a promise is an `Rc<RefCell<..>>` that is pending with at most one callback, or resolved;
//! * a resolved promise is a plain value, with no allocation (as lwt's `Promise::ret`);
//! * `bind` on a pending promise allocates the result and one boxed callback;
//! * resolving runs the callback at once, nested (no queue, so no stack safety);
//! * no cancellation, no proxies (a callback returning a pending promise forwards to the result
//!   through one more callback), no key storage, no panic handling, no ordering guarantees.
//!
//! Whatever lwt pays beyond the toy buys those features; whatever the toy pays is the floor for
//! this design: three heap objects per pending bind (the promise, the result, the boxed
//! callback), where lwt stores the callback inline and allocates two.
//!
//! ```sh
//! cargo bench --bench floor                 # both, 9 interleaved repetitions, medians and ratio
//! cargo bench --bench floor -- toy 100000   # one implementation once (for callgrind)
//! ```
//!
//! Both print the same checksum, which the bench checks.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

/// The same step as `benches/peers.rs`, so that no optimizer can skip the work.
fn step(acc: u64, i: u64) -> u64 {
    black_box(acc)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(i)
}

// ---- the toy promise -------------------------------------------------------------------------

enum ToyState<T> {
    Pending(Option<Box<dyn FnOnce(T)>>),
    Resolved(Option<T>),
}

type ToyNode<T> = Rc<RefCell<ToyState<T>>>;

/// A promise: a value already there (no allocation, as lwt's `Promise::ret`), or a shared cell.
enum Toy<T> {
    Ready(T),
    Node(ToyNode<T>),
}

/// The resolving side of a pending toy promise.
struct ToyResolver<T>(ToyNode<T>);

fn toy_wait<T>() -> (Toy<T>, ToyResolver<T>) {
    let node = Rc::new(RefCell::new(ToyState::Pending(None)));
    (Toy::Node(node.clone()), ToyResolver(node))
}

impl<T: 'static> ToyResolver<T> {
    /// Resolves the promise and runs its callback, nested.
    fn wakeup(self, value: T) {
        let callback = {
            let mut state = self.0.borrow_mut();
            let ToyState::Pending(callback) = &mut *state else {
                panic!("toy: resolved twice");
            };
            match callback.take() {
                Some(f) => {
                    *state = ToyState::Resolved(None);
                    f
                }
                None => {
                    *state = ToyState::Resolved(Some(value));
                    return;
                }
            }
        };
        callback(value);
    }
}

impl<T: 'static> Toy<T> {
    /// Gives the value to `k`, now or once there is one.
    fn upon(self, k: impl FnOnce(T) + 'static) {
        match self {
            Toy::Ready(value) => k(value),
            Toy::Node(node) => {
                let mut state = node.borrow_mut();
                match &mut *state {
                    ToyState::Resolved(value) => {
                        let value = value.take().expect("toy: one consumer");
                        drop(state);
                        k(value)
                    }
                    ToyState::Pending(callback) => *callback = Some(Box::new(k)),
                }
            }
        }
    }

    fn bind<U: 'static>(self, f: impl FnOnce(T) -> Toy<U> + 'static) -> Toy<U> {
        match self {
            Toy::Ready(value) => f(value),
            node => {
                let (result, resolver) = toy_wait();
                node.upon(move |value| f(value).upon(move |v| resolver.wakeup(v)));
                result
            }
        }
    }

    fn value(self) -> T {
        match self {
            Toy::Ready(value) => value,
            Toy::Node(node) => match &mut *node.borrow_mut() {
                ToyState::Resolved(value) => value.take().expect("toy: one consumer"),
                ToyState::Pending(_) => panic!("toy: still pending"),
            },
        }
    }
}

// ---- the workload: the `pending-bind` row of `benches/peers.rs` ----------------------------------

fn pending_bind_toy(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        let (p, r) = toy_wait::<u64>();
        let q = p.bind(move |x| Toy::Ready(step(acc, x)));
        r.wakeup(i);
        acc = q.value();
    }
    acc
}

fn pending_bind_lwt(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        let (p, r) = lwt::wait::<u64>();
        let q = p.bind(move |x| lwt::Promise::ret(step(acc, x)));
        r.wakeup(i);
        acc = match q.state() {
            lwt::State::Fulfilled(v) => v,
            other => panic!("lwt: bound result not fulfilled: {other:?}"),
        };
    }
    acc
}

/// Runs one implementation; its checksum and ns per operation.
fn run(which: &str, n: u64) -> (u64, f64) {
    let start = Instant::now();
    let checksum = match which {
        "toy" => pending_bind_toy(n),
        "lwt" => pending_bind_lwt(n),
        other => panic!("unknown implementation {other:?} (toy or lwt)"),
    };
    (checksum, start.elapsed().as_nanos() as f64 / n as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; positional arguments choose one run.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [which, n] = args.as_slice() {
        let (checksum, ns) = run(which, n.parse().expect("N"));
        println!("{which}: checksum={checksum} ns_per_op={ns:.1}");
        return;
    }
    let n = 1_000_000;
    let reps = 9;
    let (mut toy, mut lwt) = (Vec::new(), Vec::new());
    let mut sums = Vec::new();
    for _ in 0..reps {
        let (a, t) = run("toy", n);
        let (b, l) = run("lwt", n);
        sums.push((a, b));
        toy.push(t);
        lwt.push(l);
    }
    assert!(
        sums.iter().all(|&(a, b)| a == b && a == sums[0].0),
        "checksums differ: {sums:?}"
    );
    let (toy, lwt) = (median(toy), median(lwt));
    println!("pending-bind, N = {n}, {reps} interleaved repetitions, median ns/op");
    println!("| impl | ns/op | lwt/impl |");
    println!("|---|---:|---:|");
    println!("| lwt | {lwt:.1} | — |");
    println!("| toy (the floor) | {toy:.1} | {:.2} |", lwt / toy);
}
