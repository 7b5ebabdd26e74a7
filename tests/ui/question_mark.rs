use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        let text = ret("12");
        do let n: u8 = text.parse()?;
        ret(n)
    };
}
