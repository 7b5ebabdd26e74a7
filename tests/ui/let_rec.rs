use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let rec count = ret(1_u32);
        ret(count)
    };
}
