use lwt::{lwt, ret, Promise};

fn main() {
    // A `{ .. }` statement is sequenced like `expr;`: it must be a `Promise<()>`.
    let _p: Promise<u8> = lwt! {
        let a = ret(1_u8);
        {
            let b = ret(a);
            ret(b)
        };
        ret(2)
    };
}
