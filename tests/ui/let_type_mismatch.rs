use lwt::{lwt, ret, Promise};

// The type after `let x:` is the promise's value type: a promise of another type is reported as
// Rust reports a `let`, at the value, whatever the form of the binding.
fn single() -> Promise<u32> {
    lwt! {
        let x: u32 = ret("s");
        do x
    }
}

fn with_else() -> Promise<u32> {
    lwt! {
        let Some(x): Option<u32> = ret(Some("s")) else { ret(0) };
        do x
    }
}

fn parallel() -> Promise<u32> {
    lwt! {
        let a = ret(1_u32) and b: String = ret(2_u32);
        do a + b.len() as u32
    }
}

fn fail_fast() -> Promise<u32> {
    lwt! {
        #[fail_fast]
        let a: u32 = ret("s") and b = ret(2_u32);
        do a + b
    }
}

fn main() {
    let _ = (single(), with_else(), parallel(), fail_fast());
}
