//! Regression tests for bugs of the run loop and its timers, each shrunk to a small program.
//!
//! Fixed: a hook removed after a nested turn of the loop kept running; `with_timeout` left its
//! timer behind when its function panicked.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use lwt_core::{main, unix, Promise};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(l: &Log, s: &str) {
    l.borrow_mut().push(s.to_string());
}

/// Found by reading `run_some_hooks` while writing `timers_fuzz`. An enter hook runs the exit
/// hooks (`main::exit` from a hook does this), which turns the loop nested, leave hooks
/// included; the nested pass of leave hooks cleared the "hooks are running" flag, so the
/// enter hook's `remove_hook` of a later enter hook, which was taken out to run, was not
/// recorded: that hook ran in the same pass and was put back, to run at every iteration after.
#[test]
fn a_hook_removed_after_a_nested_turn_of_the_loop_does_not_run_again() {
    let l = log();
    let second_id = Rc::new(RefCell::new(None));
    main::at_exit(main::pause);
    let leave = main::add_leave_hook(|| {});
    let (l1, id1) = (l.clone(), second_id.clone());
    let first = main::add_enter_hook(move || {
        push(&l1, "first");
        if l1.borrow().len() == 1 {
            main::run_exit_hooks();
            let id = id1.borrow().unwrap();
            main::remove_hook(id);
        }
    });
    let l2 = l.clone();
    let second = main::add_enter_hook(move || push(&l2, "second"));
    *second_id.borrow_mut() = Some(second);
    let three_iterations = main::pause()
        .bind(|()| main::pause())
        .bind(|()| main::pause());
    main::run(three_iterations).unwrap();
    main::remove_hook(first);
    main::remove_hook(second);
    main::remove_hook(leave);
    // The nested turn woke one of the pauses: the loop turned once more, without `second`
    // (before the fix: ["first", "second", "first", "second"]).
    assert_eq!(*l.borrow(), ["first", "first"]);
}

/// Found by reading `with_timeout` against Lwt's (`pick [timeout d; apply f ()]`, whose list
/// OCaml evaluates right to left). The timeout's sleep was made before `f` was called, so when
/// `f` panicked the timer was left behind: it counted in `timer_count`, kept a loop with
/// nothing else to do waiting for it (an hour here) instead of reporting that nothing can
/// resolve its promise, and fired for nobody.
#[test]
fn with_timeout_whose_function_panics_leaves_no_timer() {
    let before = unix::timer_count();
    let panicked = std::panic::catch_unwind(|| {
        unix::with_timeout(Duration::from_secs(3600), || -> Promise<()> {
            panic!("the operation cannot start")
        })
    });
    assert!(panicked.is_err());
    assert_eq!(unix::timer_count(), before);
}
