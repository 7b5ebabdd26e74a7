use lwt::{lwt, ret, Promise};

// A variable of the enclosing function, assigned in a form's body: the body is a `move` closure
// with its own copy, so the code after the form (and after `lwt!`) sees the old value.
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
