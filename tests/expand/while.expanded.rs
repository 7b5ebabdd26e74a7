use std::cell::Cell;
use std::rc::Rc;
use lwt::{lwt, ret, return_unit, Promise};
fn more(_n: u32) -> Promise<bool> {
    ret(false)
}
fn step() -> Promise<()> {
    return_unit()
}
fn run() -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        let __block = {
            let n = Rc::new(Cell::new(0));
            let m = n.clone();
            __lwt::seq(
                __lwt::while_loop(move |__step| match __step {
                    __lwt::Step::Cond => __lwt::Next::cond(n.get() < 3),
                    __lwt::Step::Body => {
                        __lwt::Next::body({
                            n.set(n.get() + 1);
                            __lwt::done()
                        })
                    }
                }),
                move || __lwt::while_loop(move |__step| match __step {
                    __lwt::Step::Cond => __lwt::Next::cond(more(m.get())),
                    __lwt::Step::Body => __lwt::Next::body(step()),
                }),
            )
        };
        __block
    }
}
fn main() {
    let _ = run();
}
