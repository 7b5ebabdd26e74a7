//! The signal functions called from a thread-local's destructor after the thread's handler table
//! is gone, at the thread's end. A binary of its own: its thread registers a handler, which opens
//! a pipe that `signals_thread_exit` would count.

use std::cell::RefCell;
use std::sync::mpsc;

use lwt_core::unix::signal::{self, SignalHandler};

/// What the late destructor saw, once disabling its handler returned: the count, and the error
/// of a new registration.
type Seen = (usize, Option<String>);

/// Disables its handler when dropped, and reports what it saw.
struct Late {
    handler: Option<SignalHandler>,
    report: Option<mpsc::Sender<Seen>>,
}

impl Drop for Late {
    fn drop(&mut self) {
        let count = signal::signal_count();
        if let Some(handler) = self.handler {
            handler.disable();
        }
        let again = signal::on_signal(signal::SIGUSR2, |_| ()).err();
        if let Some(report) = self.report.take() {
            let _ = report.send((count, again.map(|e| e.to_string())));
        }
    }
}

thread_local! {
    static LATE: RefCell<Late> = const {
        RefCell::new(Late { handler: None, report: None })
    };
}

/// Found in review (rev126, session 46): these used `SIGNALS.with`, which panics once the table
/// is destroyed, and a panic in a thread-local's destructor aborts the process. `LATE` is made
/// before the handler table, so its destructor runs after the table's (thread-locals are
/// destroyed in the reverse order of their first use): the count of 0 shows the table was gone.
#[test]
fn a_late_destructor_finds_no_table_and_no_panic() {
    let (report, seen) = mpsc::channel();
    std::thread::spawn(move || {
        LATE.with(|late| late.borrow_mut().report = Some(report));
        let handler = signal::on_signal(signal::SIGUSR1, |_| ()).unwrap();
        assert_eq!(signal::signal_count(), 1);
        LATE.with(|late| late.borrow_mut().handler = Some(handler));
    })
    .join()
    .expect("the thread ends without a panic");
    let (count, again) = seen.recv().expect("the late destructor ran to its end");
    assert_eq!(
        count, 0,
        "the table was dropped before `Late`, releasing its handler"
    );
    let again = again.expect("no table to file a handler in");
    assert!(again.contains("the thread is ending"), "{again}");
}
