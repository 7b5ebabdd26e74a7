// A plain value as a `match` arm, a rejection arm or the last expression of a block: the
// error says how to wrap it (`ret(..)` or `do`), not only that the types differ.
use lwt::{lwt, ret, Promise};

fn arm(p: Promise<Option<u8>>) -> Promise<u8> {
    lwt! {
        match p {
            Some(n) => ret(n),
            None => 0,
        }
    }
}

fn catch_arm(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        try {
            p
        } catch {
            _ => 0_u8,
        }
    }
}

fn constructor(p: Promise<u8>) -> Promise<Option<u8>> {
    lwt! {
        let n = p;
        Some(n)
    }
}

fn text(p: Promise<u8>) -> Promise<String> {
    lwt! {
        let n = p;
        format!("n = {n}")
    }
}

fn main() {
    let _ = (arm(ret(None)), catch_arm(ret(1)), constructor(ret(2)), text(ret(3)));
}
