// After a statement that does not parse, the statements before it are still expanded beside
// the error, so that the names they use are resolved: the imports they use are not reported
// unused (a warning that would send the reader to the `use` lines first), and a misspelt name
// in them is reported with the parse error. Nothing else may be reported: no name bound before
// the error is said to be unused or of an unknown type for want of the code after it.
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use lwt::{lwt, ret, Promise};

fn imports_before() -> Promise<u8> {
    lwt! {
        do let start = Rc::new(Cell::new(1_u8));
        do let mut seen = Vec::new();
        let x = ret(start.get());
        let y = x +;
        do seen.push(y);
        ret(y)
    }
}

// A misspelt name before the error is reported too.
fn misspelt_before() -> Promise<u8> {
    lwt! {
        let x = rett(1_u8);
        let y = x +;
        ret(y)
    }
}

// An item is visible in its whole block: one after the error is kept (with the imports its
// body uses), so the call before the error finds it.
fn item_after() -> Promise<usize> {
    lwt! {
        let n = count(ret(2_usize));
        let m = n +;
        fn count(p: Promise<usize>) -> Promise<usize> {
            let _index: HashMap<usize, usize> = HashMap::new();
            p
        }
        ret(m)
    }
}

// An item that does not parse may be what a statement before it calls: the block then gives
// only its errors, not "cannot find function `broken`".
fn broken_item() -> Promise<u8> {
    lwt! {
        let x = broken(1_u8);
        fn broken(x: u8) -> Promise<u8> { ret(x +) }
        ret(x)
    }
}

fn main() {
    let _ = (imports_before(), misspelt_before(), item_after(), broken_item());
}
