//! The walk-through of Lwt's manual ("What we can do with a Lwt promise"): a pipe, a promise
//! of the next character read from it, its state before and after a write.
//!
//! ```text
//! utop # let ic, oc = Lwt_io.pipe ();;
//! utop # let p = Lwt_io.read_char ic;;
//! utop # Lwt.state p;;
//! - : char Lwt.state = Lwt.Sleep
//! utop # Lwt_io.write_char oc 'a';;
//! - : unit = ()
//! utop # Lwt.state p;;
//! - : char Lwt.state = Lwt.Return a
//! ```
//!
//! utop runs the loop for each phrase; a Rust program calls `main::run` itself: once to write
//! (and flush) the character, once more for one turn of the loop, in which the reader sees it.
//!
//! `cargo run --example pipe_walkthrough`

use lwt::{io, main, State};

/// Lwt's name for a state.
fn lwt_name(state: &State<char>) -> String {
    match state {
        State::Fulfilled(c) => format!("Lwt.Return {c}"),
        State::Rejected(e) => format!("Lwt.Fail {e}"),
        State::Pending => "Lwt.Sleep".into(),
    }
}

fn show(p: &lwt::Promise<char>) {
    let state = p.state();
    println!("- : State<char> = {state:?}   (Lwt: {})", lwt_name(&state));
}

fn main() {
    println!("# let (ic, oc) = io::pipe().expect(\"a pipe\");");
    let (ic, oc) = io::pipe().expect("a pipe");

    println!("# let p = io::read_char(&ic);");
    let p = io::read_char(&ic);

    println!("# p.state()");
    show(&p);

    println!("# main::run(io::write_char(&oc, 'a').bind(move |()| io::flush(&oc)))");
    let written = main::run(io::write_char(&oc, 'a').bind(move |()| io::flush(&oc)));
    println!("- : Result<(), Exn> = {written:?}");

    println!("# main::run(main::pause())  // one turn of the loop: the reader wakes up");
    let turned = main::run(main::pause());
    println!("- : Result<(), Exn> = {turned:?}");

    println!("# p.state()");
    show(&p);
}
