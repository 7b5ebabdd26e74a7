use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let Some(x) = ret(Some(1_u32));
        ret(x)
    };
}
