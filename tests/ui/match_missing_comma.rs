use lwt::{lwt, ret, Promise};

fn main() {
    // One error for the missing comma, and the match still has both its arms: no second error
    // claiming it has none.
    let _p: Promise<u8> = lwt! {
        match ret(1_u8) {
            1 => ret(2)
            _ => ret(3),
        }
    };
}
