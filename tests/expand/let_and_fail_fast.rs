use lwt::{lwt, ret, Promise};

// `#[fail_fast]`: rejected as soon as any of the promises is.
fn sum3(a: Promise<u32>, b: Promise<u32>, c: Promise<u32>) -> Promise<u32> {
    lwt! {
        #[fail_fast]
        let x = a and y = b and z: u32 = c;
        ret(x + y + z)
    }
}

fn main() {
    let _ = sum3(ret(1), ret(2), ret(3));
}
