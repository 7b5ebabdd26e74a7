use lwt::{lwt, return_unit, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        for i in 0..10 {
            do if i == 5 { break; }
            return_unit();
        }
        while true {
            do continue;
        }
    };
}
