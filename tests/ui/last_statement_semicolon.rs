use lwt::{lwt, ret, Promise};

// A `;` after the block's value: the message says to remove it.
fn plus_one(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        let x = p;
        ret(x + 1);
    }
}

fn main() {
    let _ = plus_one(ret(1));
}
