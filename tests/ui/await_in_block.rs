use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        let x = ret(1_u8).await;
        ret(x)
    };
}
