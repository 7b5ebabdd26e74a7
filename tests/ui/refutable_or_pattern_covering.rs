use lwt::{lwt, ret, Promise};

fn main() {
    // The cases name both variants of `Option`, so the macro leaves the pattern to the
    // compiler, which knows the types and finds `Some(0_u8)` uncovered.
    let _q: Promise<u8> = lwt! {
        let (Some(1) | None) = ret(Some(1_u8));
        ret(0)
    };
}
