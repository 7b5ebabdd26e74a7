use lwt::{lwt, ret, Promise};

fn tick(_i: u32) -> Promise<()> {
    ret(())
}

fn main() {
    // The error is at the body's value, as for `while`, not at `for`.
    let _p: Promise<()> = lwt! {
        for i in 0..3_u32 {
            let () = tick(i);
            ret(i)
        }
    };
    let _q: Promise<()> = lwt! {
        loop {
            ret(1_u8)
        }
    };
}
