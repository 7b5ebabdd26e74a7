use lwt::{lwt, Promise};

fn main() {
    // The body adds to its own copy of `n`: the block would be fulfilled with 0.
    let _p: Promise<u32> = lwt! {
        do let mut n = 0_u32;
        for i in 1..=3 {
            do n += i;
        }
        do n
    };
}
