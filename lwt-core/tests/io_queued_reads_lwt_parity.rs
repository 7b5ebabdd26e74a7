//! Queued reads on one channel whose first read's callback closes the channel, cancels the
//! second read, starts a new read, or reads another channel; the end of input in the middle of a
//! line; a close while reads wait for a fill. Each log is the one the same OCaml program prints
//! with Lwt 5.6.1 (rev140's review of the fill's hand-over order: data in one write and in two,
//! a turn of the loop apart). In `close`, Lwt's order of the second read's rejection against the
//! first one's callbacks depends on when the pipe's data arrives; the second read is rejected
//! with `Channel_closed` in every run.
use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::io::{self, OutputChannel};
use lwt_core::{join, main, pick, unix, Exn, Promise};

thread_local!(static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) });
fn say(s: String) {
    LOG.with(|l| l.borrow_mut().push(s));
}
fn take_log() -> String {
    LOG.with(|l| {
        let s = l.borrow().join(" | ");
        l.borrow_mut().clear();
        s
    })
}
fn ename(e: &Exn) -> String {
    if e.is::<io::ChannelClosed>() {
        "Channel_closed".into()
    } else if e.is::<io::EndOfFile>() {
        "End_of_file".into()
    } else if e.is_canceled() {
        "Canceled".into()
    } else {
        format!("{e}")
    }
}
/// Logs the outcome of `p` as Lwt.on_any does.
fn res<T: std::fmt::Display + 'static>(name: &'static str, p: &Promise<T>) {
    p.on_any(
        move |v| say(format!("{name} ok {v}")),
        move |e| say(format!("{name} exn {}", ename(e))),
    );
}
fn send(oc: &OutputChannel, s: &'static str) -> Promise<()> {
    let oc2 = oc.clone();
    oc.write(s.as_bytes()).bind(move |()| oc2.flush())
}
fn feed(
    oc: &OutputChannel,
    split: Option<(&'static str, &'static str)>,
    whole: &'static str,
) -> Promise<()> {
    match split {
        Some((a, b)) => {
            let oc2 = oc.clone();
            send(oc, a)
                .bind(|()| main::pause())
                .bind(move |()| send(&oc2, b))
        }
        None => send(oc, whole),
    }
}
fn settle<T: 'static>(p: Promise<T>) -> Promise<()> {
    p.try_bind(|_| Promise::ret(()), |_| Promise::ret(()))
}
fn run_s(name: &str, f: impl FnOnce() -> Promise<()>) {
    let _ = main::run(pick([
        f(),
        unix::sleep(std::time::Duration::from_millis(300)).map(|()| say("TIMEOUT".into())),
    ]));
    let expected = LWT.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
    assert_eq!(Some(take_log().as_str()), expected, "{name}");
}

/// What Lwt 5.6.1 prints (`TIMEOUT`: the third read still waits when the 300 ms run out).
const LWT: &[(&str, &str)] = &[
    (
        "close one",
        "first cb a | closed | first ok a | second exn Channel_closed",
    ),
    (
        "cancel one",
        "first cb a | canceled | first ok a | second ok b | TIMEOUT | third exn Canceled",
    ),
    (
        "newread one",
        "first cb a | new started | first ok a | second ok b | new ok c",
    ),
    (
        "other one",
        "first cb a | other ok z | first ok a | second ok b",
    ),
    (
        "eof one",
        "first cb a | first ok a | second ok b | third ok 0",
    ),
    (
        "exact one",
        "first cb abc | closed | first ok  | second exn Channel_closed",
    ),
    (
        "close split",
        "first cb a | closed | first ok a | second exn Channel_closed",
    ),
    (
        "cancel split",
        "first cb a | canceled | first ok a | second ok b | TIMEOUT | third exn Canceled",
    ),
    (
        "newread split",
        "first cb a | new started | first ok a | second ok b | new ok c",
    ),
    (
        "other split",
        "first cb a | other ok z | first ok a | second ok b",
    ),
    (
        "eof split",
        "first cb a | first ok a | second ok b | third ok 0",
    ),
    (
        "exact split",
        "first cb abc | closed | first ok  | second exn Channel_closed",
    ),
];

#[test]
fn queued_reads_and_their_first_reads_callbacks_as_in_lwt() {
    for split in [false, true] {
        let sfx = if split { " split" } else { " one" };
        run_s(&format!("close{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let c = ic.clone();
            let first = ic.read_line().bind(move |l| {
                say(format!("first cb {l}"));
                c.close().map(move |()| {
                    say("closed".into());
                    l
                })
            });
            let second = ic.read_line();
            res("first", &first);
            res("second", &second);
            feed(&oc, split.then_some(("a", "\nb\n")), "a\nb\n")
                .bind(move |()| settle(join([settle(first), settle(second)])))
                .bind(|()| main::pause())
        });
        run_s(&format!("cancel{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let slot: Rc<RefCell<Option<Promise<String>>>> = Rc::default();
            let s2 = slot.clone();
            let first = ic.read_line().map(move |l| {
                say(format!("first cb {l}"));
                s2.borrow().as_ref().unwrap().cancel();
                say("canceled".into());
                l
            });
            let second = ic.read_line();
            *slot.borrow_mut() = Some(second.clone());
            let third = ic.read_char().map(|c| c.to_string());
            std::mem::forget(oc.clone());
            res("first", &first);
            res("second", &second);
            res("third", &third);
            feed(&oc, split.then_some(("a", "\nb\n")), "a\nb\n")
                .bind(move |()| settle(join([settle(first), settle(second)])))
                .bind(move |()| settle(third))
                .bind(|()| main::pause())
        });
        run_s(&format!("newread{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let c = ic.clone();
            let newr: Rc<RefCell<Option<Promise<String>>>> = Rc::default();
            let n2 = newr.clone();
            let first = ic.read_line().map(move |l| {
                say(format!("first cb {l}"));
                let n = c.read_char().map(|c| c.to_string());
                res("new", &n);
                *n2.borrow_mut() = Some(n);
                say("new started".into());
                l
            });
            let second = ic.read_line();
            res("first", &first);
            res("second", &second);
            feed(&oc, split.then_some(("a", "\nb\ncd")), "a\nb\ncd")
                .bind(move |()| settle(join([settle(first), settle(second)])))
                .bind(move |()| settle(newr.borrow_mut().take().unwrap()))
                .bind(|()| main::pause())
        });
        run_s(&format!("other{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let (ic2, oc2) = io::pipe().unwrap();
            let other: Rc<RefCell<Option<Promise<String>>>> = Rc::default();
            let o2 = other.clone();
            let first = ic.read_line().map(move |l| {
                say(format!("first cb {l}"));
                let n = ic2.read_char().map(|c| c.to_string());
                res("other", &n);
                *o2.borrow_mut() = Some(n);
                l
            });
            let second = ic.read_line();
            res("first", &first);
            res("second", &second);
            send(&oc2, "z")
                .bind(move |()| feed(&oc, split.then_some(("a", "\nb\n")), "a\nb\n"))
                .bind(move |()| settle(join([settle(first), settle(second)])))
                .bind(move |()| settle(other.borrow_mut().take().unwrap()))
                .bind(|()| main::pause())
        });
        run_s(&format!("eof{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let first = ic.read_line().map(|l| {
                say(format!("first cb {l}"));
                l
            });
            let second = ic.read_line();
            let third = ic.read_into(vec![0; 4], 0..4).map(|(_, n)| n.to_string());
            res("first", &first);
            res("second", &second);
            res("third", &third);
            let oc2 = oc.clone();
            feed(&oc, split.then_some(("a", "\nb")), "a\nb")
                .bind(move |()| oc2.close())
                .bind(move |()| settle(join([settle(first), settle(second), settle(third)])))
                .bind(|()| main::pause())
        });
        run_s(&format!("exact{sfx}"), || {
            let (ic, oc) = io::pipe().unwrap();
            let c = ic.clone();
            let first = ic.read_exactly(3).bind(move |b| {
                say(format!("first cb {}", String::from_utf8(b).unwrap()));
                c.close().map(|()| {
                    say("closed".into());
                    String::new()
                })
            });
            let second = ic.read_char().map(|c| c.to_string());
            res("first", &first);
            res("second", &second);
            feed(&oc, split.then_some(("ab", "cd")), "abcd")
                .bind(move |()| settle(join([settle(first), settle(second)])))
                .bind(|()| main::pause())
        });
    }
}

#[test]
fn a_close_while_reads_wait_for_a_fill_as_in_lwt() {
    let (ic, _oc) = io::pipe().unwrap();
    let first = ic.read_line().map(|l| {
        say("first map".into());
        l
    });
    let second = ic.read_line();
    let third = ic.read_char().map(|c| c.to_string());
    res("first", &first);
    res("second", &second);
    res("third", &third);
    let c = ic.clone();
    let p = main::pause().bind(move |()| {
        say("closing".into());
        let cl = c.close();
        say("close returned".into());
        cl.map(|()| say("close done".into()))
    });
    main::run(
        main::pause()
            .bind(move |()| p)
            .bind(|()| main::pause())
            .bind(|()| main::pause()),
    )
    .unwrap();
    assert_eq!(
        take_log(),
        "closing | first exn Channel_closed | close returned | close done | second exn Channel_closed | third exn Channel_closed"
    );
}
