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

/// A `Display` that fails or panics (rev78): `format!` panics in the caller; the printers reject
/// their promise instead, and write nothing.
#[test]
fn a_failing_or_panicking_display_rejects_and_writes_nothing() {
    use std::fmt;
    struct Fails;
    impl fmt::Display for Fails {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            Err(fmt::Error)
        }
    }
    struct Panics;
    impl fmt::Display for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("display panicked")
        }
    }
    let (ic, oc) = io::pipe().unwrap();
    let failed = main::run(lwt::fprintf!(oc, "a{}", Fails)).unwrap_err();
    assert!(failed.is::<lwt::InvalidArgument>(), "{failed}");
    let panicked = main::run(lwt::fprintlf!(oc, "b{}", Panics)).unwrap_err();
    assert!(panicked.is::<lwt::Panicked>(), "{panicked}");
    assert!(
        panicked.to_string().contains("display panicked"),
        "{panicked}"
    );
    for printed in [
        lwt::printf!("{}", Fails),
        lwt::printlf!("{}", Fails),
        lwt::eprintf!("{}", Fails),
        lwt::eprintlf!("{}", Fails),
        io::printf(format_args!("{}", Fails)),
    ] {
        assert!(main::run(printed).unwrap_err().is::<lwt::InvalidArgument>());
    }
    // The channel is whole: only what comes after reaches it.
    main::run(lwt::fprintlf!(oc, "c{}", 3)).unwrap();
    main::run(oc.close()).unwrap();
    assert_eq!(main::run(ic.read_line()).unwrap(), "c3");
    assert!(main::run(ic.read_line_opt()).unwrap().is_none());
}
