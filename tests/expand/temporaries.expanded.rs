use std::cell::RefCell;
use lwt::{lwt, ret, Promise};
fn refresh(cache: &'static RefCell<Option<u32>>, p: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            p,
            move |n| __lwt::seq(
                __lwt::branch(
                    __lwt::evaluate(|| cache.borrow().is_none()),
                    move |__cond| {
                        if __cond {
                            __lwt::unit({
                                *cache.borrow_mut() = Some(n);
                                __lwt::done()
                            })
                        } else {
                            __lwt::done()
                        }
                    },
                ),
                move || __lwt::bind(
                    __lwt::evaluate(|| ret(cache.borrow().unwrap_or(0))),
                    move |cached| __lwt::ret(cached),
                ),
            ),
        );
        __block
    }
}
fn main() {
    let cache = Box::leak(Box::new(RefCell::new(None)));
    let _ = refresh(cache, ret(1));
}
