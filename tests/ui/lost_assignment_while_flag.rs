// A `while` flag cleared in the body would be lost like any other assignment: the error also
// suggests `break;`, which is what such a loop means, when the flag is the loop's condition and
// the assignment a whole statement setting it to a constant, which `break;` can replace.
use lwt::{lwt, ret, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        do let mut running = true;
        while running {
            let line = ret(String::from("quit"));
            if line == "quit" {
                do running = false;
            }
        }
    };
    // Not the condition's variable, or not set to a constant: no `break;` advice.
    let _q: Promise<u32> = lwt! {
        do let mut running = true;
        do let mut seen = 0_u32;
        while running {
            let line = ret(String::from("quit"));
            do seen = 1;
            do running = line != "quit";
        }
        do seen
    };
    // In a nested loop, `break;` would end the inner loop: no advice.
    let _r: Promise<()> = lwt! {
        do let mut running = true;
        while running {
            for i in 0..3_u32 {
                let _ = ret(i);
                do running = false;
            }
        }
    };
}
