//! `lwt!` records where a rejection passed (file and line of each `let`, `;`, `match`, loop...),
//! shown by the `Exn`'s `Debug` output: what Lwt users lose through binds.

use lwt::{lwt, ret, wait, Promise};

#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lost")
    }
}

impl std::error::Error for Lost {}

fn lines(p: &Promise<u8>) -> Vec<u32> {
    let e = p.rejection().expect("rejected");
    assert!(e
        .locations()
        .all(|l| l.file().ends_with("macro_location.rs")));
    e.locations().map(|l| l.line()).collect()
}

const INNER_LET: u32 = line!() + 3;
fn inner(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        let x = p;
        ret(x + 1)
    }
}

const MIDDLE_LET: u32 = line!() + 3;
fn middle(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        let y = inner(p);
        ret(y * 2)
    }
}

const OUTER_SEQ: u32 = line!() + 3;
fn outer(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        lwt::return_unit();
        ret(0).map(|_| ());
        middle(p)
    }
}

#[test]
fn a_rejection_records_every_let_it_passes_through() {
    let p = middle(Promise::fail(Lost));
    assert_eq!(lines(&p), [INNER_LET, MIDDLE_LET]);
}

#[test]
fn the_trail_is_the_same_for_a_pending_promise() {
    let (source, r) = wait::<u8>();
    let p = middle(source);
    r.wakeup_exn(Lost);
    assert_eq!(lines(&p), [INNER_LET, MIDDLE_LET]);
}

#[test]
fn debug_output_shows_file_and_line() {
    let p = middle(Promise::fail(Lost));
    let shown = format!("{:?}", p.rejection().unwrap());
    assert!(shown.starts_with("Exn(Lost)"), "{shown}");
    assert!(
        shown.contains(&format!("macro_location.rs:{INNER_LET}:")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("macro_location.rs:{MIDDLE_LET}:")),
        "{shown}"
    );
}

#[test]
fn a_returned_promise_adds_no_location_of_its_own() {
    // `middle(p)` is the block's value: its rejection is the block's, with no extra bind.
    let p = outer(Promise::fail(Lost));
    assert_eq!(lines(&p), [INNER_LET, MIDDLE_LET]);
}

#[test]
fn sequencing_records_the_statement() {
    let p: Promise<u8> = lwt! {
        Promise::<()>::fail(Lost);
        ret(1)
    };
    assert_eq!(lines(&p), [line!() - 3]);
    let _ = OUTER_SEQ;
}

#[test]
fn loops_and_matches_record_themselves() {
    let for_line = line!() + 2;
    let p: Promise<u8> = lwt! {
        for _ in 0..3 {
            Promise::fail(Lost)
        }
        ret(1)
    };
    // The `for` and the statement it is are one location: recorded once.
    assert_eq!(lines(&p), [for_line]);

    let match_line = line!() + 2;
    let p: Promise<u8> = lwt! {
        match Promise::<u8>::fail(Lost) {
            v => ret(v),
            exception std::fmt::Error => ret(0),
        }
    };
    assert_eq!(lines(&p), [match_line]);
}

#[test]
fn a_nested_block_records_its_opening_brace() {
    let block_line = line!() + 3;
    let p: Promise<u8> = lwt! {
        let _a = ret(1_u8);
        {
            do let _b = 2;
            Promise::<()>::fail(Lost);
        };
        ret(2)
    };
    // The block's line, not the `lwt!` line (the failing statement is the block's last, whose
    // promise the block returns as it is, adding no location of its own).
    assert_eq!(lines(&p), [block_line]);
}

/// An iterable whose `into_iter` panics: the loop's rejection records the `for`, as a panic in
/// its `next` does (`for_each` converts the iterable under its own `catch_unwind`; a conversion
/// made before the driver's call, under the form's plain guard, recorded no location). The `for`
/// is the block's value, so that no statement around it records the line instead.
#[test]
fn a_panic_in_into_iter_records_the_for() {
    struct Bad;
    impl IntoIterator for Bad {
        type Item = u8;
        type IntoIter = std::vec::IntoIter<u8>;
        fn into_iter(self) -> Self::IntoIter {
            panic!("no items today")
        }
    }
    let for_line = line!() + 2;
    let p: Promise<()> = lwt! {
        for _x in Bad {
            ret(())
        }
    };
    let e = p.rejection().expect("rejected");
    let panicked = e.downcast_ref::<lwt::Panicked>().expect("a panic");
    assert_eq!(panicked.message(), "no items today");
    let lines: Vec<u32> = e.locations().map(|l| l.line()).collect();
    assert_eq!(lines, [for_line]);
}
