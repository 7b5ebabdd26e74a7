use lwt::{lwt, ret, Promise};

// A variable of the enclosing function, assigned in a loop's body: the body is a `move` closure
// with its own copy, so the code after the loop (and, when the body waits, the next iteration)
// sees the old value: the macro reports it. In a branch, an assignment the branch itself reads
// is right (a retry's `do attempts += 1; retry(attempts)`), so the macro leaves branches to
// rustc, which warns when the copy's value is never read, as for `done` below.
fn sum(mut total: u32) -> Promise<u32> {
    lwt! {
        for i in 0..3_u32 {
            do total += i;
        }
        ret(total)
    }
}

fn flag() -> Promise<bool> {
    let mut done = false;
    let p = lwt! {
        let c = ret(true);
        if c {
            do done = true;
        }
        ret(done)
    };
    let _ = done;
    p
}

fn main() {
    let _ = (sum(1), flag());
}
