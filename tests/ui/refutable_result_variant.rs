use lwt::{lwt, ret, Promise};

fn main() {
    // Left to the compiler, which knows whether the other variant can exist (with a
    // `Result<T, Infallible>`, `let Ok(x)` is accepted: see macro_let.rs).
    let _p: Promise<u32> = lwt! {
        let Ok(x) = ret(Ok::<u32, String>(1));
        ret(x)
    };
}
