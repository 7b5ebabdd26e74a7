use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let%lwt x = ret(1_u32);
        match%lwt ret(x) {
            v => ret(v),
        }
    };
}
