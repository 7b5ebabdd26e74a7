use lwt::{lwt, Promise};
fn check(ready: Promise<bool>) -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            ready,
            move |ok| __lwt::branch(
                !ok,
                move |__cond| {
                    if __cond {
                        __lwt::unit(
                            __lwt::diverged(|| {
                                ::core::panicking::panic_fmt(
                                    format_args!(
                                        "internal error: entered unreachable code: {0}",
                                        format_args!("checked before"),
                                    ),
                                );
                            }),
                        )
                    } else {
                        __lwt::done()
                    }
                },
            ),
        );
        __block
    }
}
fn main() {
    let _ = check(lwt::ret(true));
}
