use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<i32> = lwt! {
        let x = ret(1);
        if x > 0 then { ret(1) } else { ret(2) }
    };
}
