use lwt::{lwt, ret, Promise};

fn main() {
    // Each iteration would restart from a copy of `i`: the loop would never end.
    let _p: Promise<u32> = lwt! {
        do let mut i = 0_u32;
        while i < 3 {
            let step = ret(1_u32);
            do i += step;
        }
        do i
    };
}
