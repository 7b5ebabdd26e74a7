use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let mut misses = ret(0_u32);
        match ret(Some(1_u32)) {
            Some(_) => lwt::return_unit(),
            None => {
                // Also in a closure of the user's inside the arm.
                do (0..2).for_each(|_| misses += 1);
            }
        };
        do misses
    };
}
