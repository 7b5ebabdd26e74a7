use lwt::{lwt, ret, Promise};

fn main() {
    // `dbg!` returns its argument: `dbg!(promise);` waits for a `Promise<()>`, as any statement.
    let _p: Promise<u8> = lwt! {
        dbg!(ret(1_u8));
        ret(0)
    };
}
