//! `read_int` from Lwt's manual (`Lwt.map`): reads a line, converts it to an integer, prints it.
//!
//! ```text
//! let read_int : unit -> int Lwt.t = fun () ->
//!   Lwt_io.(read_line stdin) >|= int_of_string
//!
//! let () =
//!   Lwt_main.run begin
//!     let%lwt number = read_int () in
//!     Lwt_io.printf "%i\n" number
//!   end
//! ```
//!
//! OCaml's `int_of_string` raises on bad input; Rust's `parse` returns a `Result`, which
//! `Promise::of_result` turns into a rejection. `echo 42 | cargo run --example read_int`

use std::num::ParseIntError;

use lwt::{io, lwt, main, Promise};

fn int_of_string(line: String) -> Result<i64, ParseIntError> {
    line.trim().parse()
}

/// `Lwt_io.(read_line stdin) >|= int_of_string` (`|` is `>|=`, that is `Lwt.map`).
fn read_int() -> Promise<i64> {
    (io::read_line(&io::stdin()) | int_of_string) >> Promise::of_result
}

fn main() {
    let program = lwt! {
        let number = read_int();
        lwt::printlf!("{number}")
    };
    if let Err(e) = main::run(program) {
        eprintln!("read_int: {e}");
        std::process::exit(1);
    }
}
