use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        while true {
            ret(1_u8)
        }
    };
}
