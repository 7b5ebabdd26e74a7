use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        assert!(ret(true));
    };
}
