use lwt::{lwt, ret, Promise};

fn main() {
    // A let chain, read as Rust reads it: in edition 2021 rustc says it needs 2024 (the chain
    // works there: tests/edition2024).
    let _p: Promise<u8> = lwt! {
        if let Some(x) = ret(Some(1_u8)) && x > 0 { ret(x) } else { ret(0) }
    };
    let _q: Promise<()> = lwt! {
        while let Some(x) = ret(None::<u8>) && x > 0 {
            do drop(x);
        }
    };
}
