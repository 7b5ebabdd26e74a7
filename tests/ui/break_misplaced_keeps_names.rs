// A block that `lwt!` rejects for a misplaced `break` or `continue` alone is still expanded, with
// the misplaced jump as a value of any type: the imports only its code uses are not reported
// unused, its other mistakes (a misspelt name) are reported once, and the jump's block is not
// given the wrong type (`Promise<u8>` here).
use std::rc::Rc;

use lwt::{lwt, ret, return_unit, Promise};

fn outside() -> Promise<u8> {
    lwt! {
        do let r = Rc::new(1_u8);
        return_unit();
        do drop(r);
        break;
    }
}

fn in_let_value() -> Promise<()> {
    lwt! {
        loop {
            let x = match ret(Some(1_u8)) {
                Some(x) => ret(x),
                None => break,
            };
            do println!("{}", x + rett);
        }
    }
}

fn code_after() -> Promise<()> {
    lwt! {
        for i in 0..3 {
            continue;
            do println!("{i}");
        }
    }
}

fn main() {
    let _ = (outside(), in_let_value(), code_after());
}
