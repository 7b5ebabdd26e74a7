use lwt::{lwt, ret, Promise};

fn main() {
    // One type per arm: the message says how to catch several.
    let _p: Promise<u8> = lwt! {
        try { ret(1) } catch {
            std::fmt::Error | std::io::Error => ret(0),
        }
    };
}
