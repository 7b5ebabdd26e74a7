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
                move |__value| {
                    let Some(x) = __value else {
                        match __lwt::ret(__lwt::Flow::Break) {
                            #[allow(unreachable_code)]
                            __else => return __else,
                        }
                    };
                    match () {
                        () => {
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
                    }
                },
            ),
        ))
    }
}
fn main() {
    let _ = run();
}
