use lwt::{lwt, ret, Promise};

// The `;` is missing after the `do` statement: the error is at its end, where the `;` goes, not
// at the next statement, which is right.
fn main() {
    let _p: Promise<u8> = lwt! {
        do println!("hello")
        ret(1)
    };
}
