//! A thread that ends with a signal handler registered: its pipe's reading end must be closed.
//! A binary of its own, with one test: it counts the process's open descriptors, which tests
//! running in parallel would change.

use std::time::Duration;

use lwt_core::main;
use lwt_core::unix::{self, signal};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Found in review (rev45, session 34): each such thread left its pipe's reading end open,
/// inside the read that the engine forgets at the thread's end (one descriptor per thread,
/// whichever of the loop and the handler table the thread used first). Then (rev48): a thread
/// whose loop never turned after the registration left it in the pause that starts the reading.
#[test]
fn a_thread_that_ends_with_a_handler_leaves_no_descriptor_open() {
    let before = open_descriptors();
    for (loop_first, turn_after) in [
        (false, true),
        (true, true),
        (false, false),
        (true, false),
        (false, true),
        (true, false),
    ] {
        std::thread::spawn(move || {
            if loop_first {
                main::run(unix::sleep(Duration::from_millis(1))).unwrap();
            }
            let _handler = signal::on_signal(signal::SIGUSR1, |_| ()).unwrap();
            if turn_after {
                main::run(unix::sleep(Duration::from_millis(5))).unwrap();
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(open_descriptors(), before, "descriptors left open");
}
