//! An `Abandoned` rejection names where the promise was made when a user made it (`wait`,
//! `task`), so that a program with several resolvers can tell which one was dropped; the
//! runtime's own promises (a mailbox's `take`...) name no line of the library.

use lwt_core::sync::Mvar;
use lwt_core::{pick, task, wait, Abandoned, Exn};

fn abandoned(e: &Exn) -> Abandoned {
    *e.downcast_ref::<Abandoned>()
        .expect("an Abandoned rejection")
}

#[test]
fn wait_and_task_name_their_caller() {
    let (p, r) = wait::<u32>();
    let wait_line = line!() - 1;
    let (q, s) = task::<u32>();
    let task_line = line!() - 1;
    drop((r, s));
    let at = abandoned(&p.rejection().unwrap()).made_at().unwrap();
    assert_eq!((at.file(), at.line()), (file!(), wait_line));
    let at = abandoned(&q.rejection().unwrap()).made_at().unwrap();
    assert_eq!((at.file(), at.line()), (file!(), task_line));
}

#[test]
fn which_of_several_waits_was_dropped() {
    // The dogfood's case: `pick` ends with the rejection of a dropped resolver; the message
    // says which `wait` it was.
    let (work, _keep) = wait::<u32>();
    let (limit, dropped) = wait::<u32>();
    let limit_line = line!() - 1;
    drop(dropped);
    let e = pick(vec![work, limit]).rejection().unwrap();
    let text = e.to_string();
    assert!(
        text.contains(&format!("made at {}:{limit_line}:", file!())),
        "{text}"
    );
}

#[test]
fn the_runtimes_own_promises_name_no_line_of_the_library() {
    let mailbox = Mvar::<u32>::create_empty();
    let take = mailbox.take();
    drop(mailbox);
    let e = take.rejection().unwrap();
    assert_eq!(abandoned(&e).made_at(), None);
    assert!(e.to_string().contains("mailbox"), "{e}");
}
