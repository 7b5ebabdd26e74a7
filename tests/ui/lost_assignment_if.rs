use lwt::{lwt, Promise};

struct Totals {
    count: u32,
}

fn main() {
    let c = true;
    // An assignment to a field is one to the variable: `t.count` too is a copy in the branch.
    let _p: Promise<u32> = lwt! {
        do let mut n = 0_u32;
        do let mut t = Totals { count: 0 };
        if c {
            do n = 1;
            do t.count += 1;
        }
        do n + t.count
    };
}
