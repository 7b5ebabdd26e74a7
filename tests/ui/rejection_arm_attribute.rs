use lwt::{lwt, ret, Promise};

#[derive(Debug)]
struct Io;

impl std::fmt::Display for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("io")
    }
}

impl std::error::Error for Io {}

fn main() {
    // An attribute on a `catch` arm: the message of the `exception` arms of a `match`, and the
    // arm is still read (no error about the rest of the `catch`).
    let _p: Promise<u8> = lwt! {
        try { ret(1) } catch {
            #[cfg(unix)]
            Io => ret(2),
            _ => ret(3),
        }
    };
    let _q: Promise<u8> = lwt! {
        match ret(1_u8) {
            x => ret(x),
            #[cfg(unix)]
            exception Io => ret(2),
        }
    };
    // A doc comment is an attribute to the parser, but not to whoever wrote it.
    let _r: Promise<u8> = lwt! {
        /// the value
        let x = ret(1_u8);
        try { ret(x) } catch {
            /// any rejection
            _ => ret(0),
        }
    };
}
