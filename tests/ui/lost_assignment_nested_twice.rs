use lwt::{lwt, ret, Promise};

// Three levels (review, session 32): every lost assignment is reported exactly once, all in one
// round (the outermost macro walks the nested ones, their own names included); `m += 1` after
// the middle block's wait is that block's own variable going with its rest, not lost.
fn main() {
    let _p: Promise<u32> = lwt! {
        do let mut n = 0_u32;
        do let _mid: Promise<u32> = lwt! {
            do let mut m = 0_u32;
            do let _inner: Promise<()> = lwt! {
                let () = ret(());
                do n += 1;
                do m += 1;
            };
            let () = ret(());
            do m += 1;
            do n += 1;
            do m
        };
        do n
    };
}
