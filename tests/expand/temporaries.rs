use std::cell::RefCell;

use lwt::{lwt, ret, Promise};

// An expression that may leave a temporary alive (here the `Ref` of `cache.borrow()`) is
// evaluated in `__lwt::evaluate(|| ..)`, so the borrow is over before the rest runs, which
// `bind` does at once for a resolved promise. `let n = p;` and calls on names stay as written.
fn refresh(cache: &'static RefCell<Option<u32>>, p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let n = p;
        if cache.borrow().is_none() {
            do *cache.borrow_mut() = Some(n);
        }
        let cached = ret(cache.borrow().unwrap_or(0));
        do cached
    }
}

fn main() {
    let cache = Box::leak(Box::new(RefCell::new(None)));
    let _ = refresh(cache, ret(1));
}
