// The `break;` advice of the lost-assignment error is only for an assignment that makes the
// `while` condition false: `do again = true;` in `while again` keeps the loop going, and a retry
// loop's `do again = false;` at the top of its body is not the end of it either, but setting
// `again = false` there is what `break;` stands for only when nothing sets it back: the advice
// goes with the value that stops the loop, never with the one that keeps it going.
use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        do let mut again = true;
        while again {
            let n = ret(1_u32);
            if n > 0 {
                do again = true;
            }
        }
    };
    let _q: Promise<()> = lwt! {
        do let mut done = false;
        while !done {
            let n = ret(1_u32);
            if n > 0 {
                do done = false;
            }
        }
    };
    // Makes the condition false: the advice is right here.
    let _r: Promise<()> = lwt! {
        do let mut done = false;
        while !done {
            let n = ret(1_u32);
            if n > 0 {
                do done = true;
            }
        }
    };
}
