use lwt::{lwt, ret, Promise};

// A `do let` that lacks its `;` but does not end the block (review, session 32): the error is
// at the end of its value, not "cannot end an `lwt!` block", nor syn's bare "expected `;`" at
// the next statement.
fn not_last() -> Promise<u8> {
    lwt! {
        let x = ret(1_u8);
        do let y = x + 1
        do y
    }
}

fn then_a_bind() -> Promise<u8> {
    lwt! {
        do let y = 1_u8
        let z = ret(y);
        do z
    }
}

fn with_else() -> Promise<u8> {
    lwt! {
        do let Some(y) = Some(1_u8) else { return ret(0) }
        do y
    }
}

fn main() {
    let _ = (not_last(), then_a_bind(), with_else());
}
