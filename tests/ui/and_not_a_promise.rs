use lwt::{lwt, ret, Promise};

fn main() {
    // Reported at the value, not on the whole call.
    let _p: Promise<u32> = lwt! {
        let a = 4_u32 and b = ret(5_u32);
        ret(a + b)
    };
}
