use lwt::{lwt, ret, Promise};

// A nested `lwt!` is looked into (review, session 32): inside a branch, its first statement runs
// in the branch's closure; after its first wait, its rest is a closure of its own. All three
// assignments to the enclosing block's `n` would be lost.
fn main() {
    let c = true;
    let _p: Promise<u32> = lwt! {
        do let mut n = 0_u32;
        if c {
            do let _inner: Promise<()> = lwt! { do n += 1; };
        }
        do let _later: Promise<()> = lwt! {
            let () = ret(());
            do n = 5;
        };
        // As the value of a `{ .. }` block that runs in place: the code after the block reads
        // `n`, and the nested block's rest has a copy.
        {
            lwt! {
                let () = ret(());
                do n = 6;
            }
        };
        do n
    };
    // A block's own name, assigned in a nested `lwt!` that is the block's value, is lost too
    // where code after it still reads it (closing review, session 32): in a loop or a branch
    // before the nested block's first wait, or when the block's value goes on after the
    // nested block.
    let _q: Promise<u32> = lwt! {
        let v = {
            do let mut k = 1_u32;
            lwt! {
                while k < 3 {
                    do k += 1;
                }
                do k
            }
        };
        let w = {
            do let mut k = 1_u32;
            lwt! {
                if c {
                    do k += 1;
                }
                do k
            }
        };
        let x = {
            do let mut k = 1_u32;
            lwt! {
                let () = ret(());
                do k += 1;
                do ()
            }
            .map(move |()| k)
        };
        do v + w + x
    };
}
