use std::cell::Cell;
use std::rc::Rc;
use lwt::{lwt, ret, Promise};
fn size(_name: &str) -> Promise<u64> {
    ret(1)
}
fn total(names: Vec<String>) -> Promise<u64> {
    {
        use ::lwt::control as __lwt;
        let __block = {
            let sum = Rc::new(Cell::new(0));
            let result = sum.clone();
            __lwt::seq(
                __lwt::guard(|| __lwt::for_each_cloned(
                    __lwt::iterable(names),
                    move |name| __lwt::loop_body(
                        __lwt::bind(
                            size(&name),
                            move |n| {
                                sum.set(sum.get() + n);
                                __lwt::done()
                            },
                        ),
                    ),
                )),
                move || __lwt::ret(result.get()),
            )
        };
        __block
    }
}
fn record(_n: u64) -> Promise<()> {
    ret(())
}
fn record_all(names: Vec<String>) -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        __lwt::guard(|| __lwt::for_each_cloned(
            __lwt::iterable(names),
            move |name| __lwt::loop_body(
                __lwt::bind(size(&name), move |n| __lwt::statement(record(n))),
            ),
        ))
    }
}
fn main() {
    let _ = total(::alloc::vec::Vec::new());
    let _ = record_all(::alloc::vec::Vec::new());
}
