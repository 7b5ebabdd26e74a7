use lwt::{lwt, ret, Promise};
fn next() -> Promise<Option<u32>> {
    ret(None)
}
fn handle(_x: u32) -> Promise<()> {
    lwt::return_unit()
}
fn run() -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        __lwt::forever_cloned(move || __lwt::flow_body(
            __lwt::bind(
                next(),
                move |__value| match __value {
                    Some(x) => {
                        __lwt::flow_seq(
                            __lwt::branch(
                                __lwt::evaluate(|| x % 2 == 0),
                                move |__cond| {
                                    if __cond {
                                        __lwt::ret(__lwt::Flow::Continue)
                                    } else {
                                        __lwt::ret(__lwt::Flow::Next)
                                    }
                                },
                            ),
                            move || __lwt::flow_last(handle(x)),
                        )
                    }
                    _ => __lwt::ret(__lwt::Flow::Break),
                },
            ),
        ))
    }
}
fn main() {
    let _ = run();
}
