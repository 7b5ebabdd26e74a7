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
    // A plain call as the body's last statement: the note says `do expr;`.
    let total = std::cell::Cell::new(0);
    let _r: Promise<()> = lwt! {
        for i in 0..3_u32 {
            total.set(i);
        }
    };
}
