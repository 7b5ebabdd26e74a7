use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u8> = lwt! {
        let a = ret(1_u8);
        // Wrong: an attribute of a plain `let` goes after the `do`.
        #[allow(unused_mut)]
        do let mut b = a;
        // Wrong: on an expression statement, it goes inside a plain block.
        do #[allow(unused_must_use)] ret(0_u8);
        do b
    };
}
