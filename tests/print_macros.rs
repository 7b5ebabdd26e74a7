//! The formatting macros (`printf!`, `printlf!`, `fprintf!`...) through the `lwt` facade, the way
//! users write them. (What they print on the standard channels is checked in a child process by
//! `lwt-core/tests/io_std.rs`.)

use std::cell::Cell;
use std::rc::Rc;

use lwt::{io, lwt, main, ret, Promise};

#[test]
fn fprintf_takes_references_rc_and_evaluates_its_channel_once() {
    let (ic, oc) = io::pipe().unwrap();
    let evaluated = Cell::new(0);
    let get = || {
        evaluated.set(evaluated.get() + 1);
        oc.clone()
    };
    let rc = Rc::new(oc.clone());
    let r = &oc;
    let p = lwt::fprintf!(get(), "a{}", 1,)
        .bind({
            let oc = oc.clone();
            move |()| lwt::fprintf!(&oc, "b")
        })
        .bind({
            let rc = rc.clone();
            move |()| lwt::fprintlf!(rc, "c{}", 2,)
        });
    main::run(p).unwrap();
    main::run(lwt::fprintlf!(&r, "d")).unwrap();
    main::run(lwt::fprintlf!(
        {
            evaluated.set(evaluated.get() + 1);
            oc.clone()
        },
        "e"
    ))
    .unwrap();
    assert_eq!(evaluated.get(), 2);
    main::run(oc.close()).unwrap();
    assert_eq!(main::run(ic.read_to_end()).unwrap(), b"a1bc2\nd\ne\n");
}

/// Found in review (session 32): the channel was passed as `&$oc`, which gave a reference chosen
/// by an `if` the expected type `OutputChannel` (E0308).
#[test]
fn fprintf_takes_a_reference_chosen_by_an_if_or_a_match() {
    let (ic, out) = io::pipe().unwrap();
    let (_log_ic, log) = io::pipe().unwrap();
    let verbose = true;
    main::run(lwt::fprintf!(if verbose { &out } else { &log }, "x{}", 1)).unwrap();
    main::run(lwt::fprintlf!(
        match verbose {
            true => &out,
            false => &log,
        },
        "y"
    ))
    .unwrap();
    main::run(out.close()).unwrap();
    assert_eq!(main::run(ic.read_to_end()).unwrap(), b"x1y\n");
}

#[test]
fn inside_lwt_blocks_with_captures_of_let_bound_values() {
    let (ic, oc) = io::pipe().unwrap();
    let p: Promise<()> = lwt! {
        let name = ret(String::from("ada"));
        lwt::fprintlf!(oc, "hello, {name}");
        let n = ret(2u8);
        lwt::fprintf!(&oc, "{n}{}", n + 1);
        oc.close()
    };
    main::run(p).unwrap();
    assert_eq!(main::run(ic.read_to_end()).unwrap(), b"hello, ada\n23");
}
