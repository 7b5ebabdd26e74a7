//! A shared event log for tests that check the order in which callbacks run.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::RefCell;
use std::rc::Rc;

/// A list of events, shared by the callbacks that record them.
pub(crate) type Log = Rc<RefCell<Vec<String>>>;

/// An empty log.
pub(crate) fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// Records one event.
pub(crate) fn push(log: &Log, s: impl Into<String>) {
    log.borrow_mut().push(s.into());
}

/// The events so far, emptying the log.
pub(crate) fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.borrow_mut())
}
