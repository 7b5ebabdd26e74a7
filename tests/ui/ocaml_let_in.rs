use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<i32> = lwt! {
        let x = ret(1) in
        ret(x + 1)
    };
}
