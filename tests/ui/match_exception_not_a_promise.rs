use lwt::{lwt, ret, Promise};

fn main() {
    let n = 3_u8;
    let _p: Promise<&str> = lwt! {
        match n {
            0 => ret("zero"),
            _ => ret("many"),
            exception _ => ret("failed"),
        }
    };
}
