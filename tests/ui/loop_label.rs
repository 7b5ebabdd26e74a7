use lwt::{lwt, return_unit, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        'outer: for i in 0..3 {
            return_unit();
        }
    };
}
