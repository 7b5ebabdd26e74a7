use lwt::{lwt, ret, Promise};

#[derive(Debug)]
struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timeout")
    }
}

impl std::error::Error for Timeout {}

fn main() {
    // Reported at the scrutinee, with the user's patterns (not the whole call, nor `Ok(..)`).
    let _p: Promise<u8> = lwt! {
        match ret(1_u8) {
            1 => ret(2),
        }
    };
    let _q: Promise<u8> = lwt! {
        match ret(Some(1_u8)) {
            Some(x) => ret(x),
            exception _: Timeout => ret(0),
        }
    };
}
