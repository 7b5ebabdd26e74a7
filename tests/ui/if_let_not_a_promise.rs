use lwt::{lwt, ret, Promise};

fn main() {
    let opt: Option<u8> = Some(1);
    let _p: Promise<u8> = lwt! {
        if let Some(x) = opt { ret(x) } else { ret(0) }
    };
}
