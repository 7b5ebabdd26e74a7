use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        let ready = ret(true);
        if ready {
            ret(42)
        }
    };
}
