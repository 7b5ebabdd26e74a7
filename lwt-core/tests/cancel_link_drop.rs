//! A resolution drops the cancel link of the promise it resolves (`Node::resolve_root`) only
//! once the outcome is stored and outside every borrow of the node, and that link may hold the
//! last reference to the promise the result waited on, and so to that promise's value: a
//! value whose `drop` looks at the result finds it resolved with its outcome (rev123, where
//! the link became a binding dropped at the end of its scope instead of by an explicit `drop`).
//!
//! The case: a bind whose callback returns a promise resolved already but whose callbacks are
//! still queued (a `wakeup_later` from inside a callback). The bind's result is then resolved
//! later, by a callback forwarding that outcome, after the bind's source has finished running
//! its own callbacks: its cancel link, pointing at the source, is by then the source's last
//! handle (the source was resolved with `wakeup_later` from a callback, so its resolver is gone
//! too), and a handle cloned once leaves the value in the source.

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{wait, Exn, Promise, State};

type Slot = Rc<RefCell<Option<Promise<u64>>>>;
type Log = Rc<RefCell<Vec<String>>>;

/// Logs what its promise looks like when the original (not a clone) is dropped.
struct Looks {
    at: Slot,
    log: Log,
    original: bool,
}

impl Clone for Looks {
    fn clone(&self) -> Looks {
        Looks {
            at: self.at.clone(),
            log: self.log.clone(),
            original: false,
        }
    }
}

impl Drop for Looks {
    fn drop(&mut self) {
        if !self.original {
            return;
        }
        let seen = match self.at.borrow().as_ref() {
            Some(q) => match q.state() {
                State::Fulfilled(v) => format!("fulfilled {v}"),
                State::Rejected(e) => format!("rejected {e}"),
                State::Pending => "pending".to_string(),
            },
            None => "gone".to_string(),
        };
        self.log
            .borrow_mut()
            .push(format!("source value dropped, result {seen}"));
    }
}

fn run_case(reject: bool) -> Vec<String> {
    let at: Slot = Rc::default();
    let log: Log = Rc::default();
    let (s, rs) = wait::<Looks>();
    // Cloned once: each consumer gets a clone, and the value stays in the source.
    let twin = s.clone();
    let l = log.clone();
    let q = s.bind(move |_v| {
        let (inner, ri) = wait::<u64>();
        let l2 = l.clone();
        inner.on_termination(move || l2.borrow_mut().push("inner's callback".to_string()));
        if reject {
            ri.wakeup_later_exn(Exn::failure("no"));
        } else {
            ri.wakeup_later(5);
        }
        l.borrow_mut().push("bind's callback returns".to_string());
        inner
    });
    *at.borrow_mut() = Some(q.clone());
    drop((twin, q));
    // Resolved from inside a callback, with `wakeup_later`: the source's resolver is gone
    // before its callbacks run, and its node goes once they have run (then the result's
    // cancel link is its last handle), before the returned promise's queued callbacks run.
    let (go, rgo) = wait::<()>();
    let value = Looks {
        at: at.clone(),
        log: log.clone(),
        original: true,
    };
    let _started = go.map(move |()| rs.wakeup_later(value));
    rgo.wakeup(());
    let result = at.borrow_mut().take().expect("kept");
    if reject {
        assert_eq!(
            result.rejection().map(|e| e.to_string()).as_deref(),
            Some("no")
        );
    } else {
        assert_eq!(result.state(), State::Fulfilled(5));
    }
    let got = log.borrow().clone();
    got
}

#[test]
fn the_sources_value_dropped_with_the_link_finds_the_result_fulfilled() {
    assert_eq!(
        run_case(false),
        [
            "bind's callback returns",
            "inner's callback",
            "source value dropped, result fulfilled 5"
        ]
    );
}

#[test]
fn the_sources_value_dropped_with_the_link_finds_the_result_rejected() {
    let got = run_case(true);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2], "source value dropped, result rejected no");
}
