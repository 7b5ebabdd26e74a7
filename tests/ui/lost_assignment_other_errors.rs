// After lost assignments alone, the block's own mistakes that rustc finds are reported too, each
// once: a type error on the right side of the lost assignment, a misspelt macro and a misspelt
// variable.
use lwt::{lwt, ret, Promise};

fn sum() -> Promise<u8> {
    lwt! {
        do let mut total: u8 = 0;
        while total < 3 {
            let x = ret(1_u32);
            do total = x;
            do prinln!("{total}");
            do totl = 0;
        }
        do total
    }
}

fn main() {
    let _ = sum();
}
