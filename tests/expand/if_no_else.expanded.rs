use lwt::{lwt, ret, return_unit, Promise};
fn log(_msg: &str) -> Promise<()> {
    return_unit()
}
fn maybe_log(verbose: Promise<bool>, name: Promise<Option<String>>) -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::seq(
            __lwt::branch(
                verbose,
                move |__cond| {
                    if __cond { __lwt::unit(log("verbose")) } else { __lwt::done() }
                },
            ),
            move || __lwt::bind_if_let(
                name,
                move |__lwt_if_let_value| {
                    if let Some(name) = __lwt_if_let_value {
                        __lwt::unit(log(&name))
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
    let _ = maybe_log(ret(false), ret(None));
}
