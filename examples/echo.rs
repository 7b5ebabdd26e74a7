//! The echo program of Lwt's manual (`Lwt.bind`): reads a line from the standard input and
//! prints it.
//!
//! ```text
//! let () =
//!   let p_3 =
//!     Lwt.bind
//!       Lwt_io.(read_line stdin)
//!       (fun line -> Lwt_io.printl line)
//!   in
//!   Lwt_main.run p_3
//! ```
//!
//! `echo hello | cargo run --example echo` prints `hello`. With no input at all, `read_line` is
//! rejected with `io::EndOfFile` (OCaml's `End_of_file`): the program says so and exits with 1.

use lwt::{bind, io, main};

fn main() {
    let p_3 = bind(io::read_line(&io::stdin()), io::printl);
    match main::run(p_3) {
        Ok(()) => {}
        Err(e) if e.is::<io::EndOfFile>() => {
            eprintln!("echo: end of input");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(2);
        }
    }
}
