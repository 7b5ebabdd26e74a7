//! "One second ago, you entered ...": the three ways Lwt's manual writes the same program
//! (nested `Lwt.bind`, `let%lwt`, and `>>=`), chosen by the first argument: `bind`, `lwt`
//! (the default) or `infix`.
//!
//! ```text
//! let () =
//!   Lwt_main.run begin
//!     let%lwt line = Lwt_io.(read_line stdin) in
//!     let%lwt () = Lwt_unix.sleep 1. in
//!     Lwt_io.printf "One second ago, you entered %s\n" line
//!   end
//! ```
//!
//! `echo hi | cargo run --example one_second_ago -- infix`

use lwt::{io, lwt, main, unix, Promise};

/// `Lwt.bind (read_line stdin) (fun line -> Lwt.bind (sleep 1.) (fun () -> printf ...))`
fn with_bind() -> Promise<()> {
    lwt::bind(io::read_line(&io::stdin()), |line| {
        lwt::bind(unix::sleep_secs(1.0), move |()| {
            lwt::printf!("One second ago, you entered {line}\n")
        })
    })
}

/// `let%lwt line = ... in let%lwt () = ... in ...`
fn with_lwt_macro() -> Promise<()> {
    lwt! {
        let line = io::read_line(&io::stdin());
        let () = unix::sleep_secs(1.0);
        lwt::printf!("One second ago, you entered {line}\n")
    }
}

/// `read_line stdin >>= fun line -> sleep 1. >>= fun () -> printf ...`
fn with_infix() -> Promise<()> {
    io::read_line(&io::stdin())
        >> (|line| {
            unix::sleep_secs(1.0)
                >> (move |()| lwt::printf!("One second ago, you entered {line}\n"))
        })
}

fn main() {
    let style = std::env::args().nth(1).unwrap_or_else(|| "lwt".into());
    let program = match style.as_str() {
        "bind" => with_bind(),
        "lwt" => with_lwt_macro(),
        "infix" => with_infix(),
        other => {
            eprintln!("one_second_ago: unknown style {other:?} (bind, lwt or infix)");
            std::process::exit(2);
        }
    };
    if let Err(e) = main::run(program) {
        eprintln!("one_second_ago: {e}");
        std::process::exit(1);
    }
}
