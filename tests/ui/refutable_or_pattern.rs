use lwt::{lwt, ret, Promise};

fn main() {
    // Every case refutable and the type not covered: the macro says so itself.
    let _p: Promise<u8> = lwt! {
        let (1 | 2) = ret(1_u8);
        ret(0)
    };
}
