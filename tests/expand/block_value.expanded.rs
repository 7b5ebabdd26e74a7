use lwt::{lwt, ret, Promise};
fn pick(ready: Promise<bool>, p: Promise<u8>) -> Promise<u8> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            ready,
            move |ok| __lwt::branch(
                ok,
                move |__cond| if __cond { __lwt::value(p) } else { ret(0) },
            ),
        );
        __block
    }
}
fn main() {
    let _ = pick(ret(true), ret(1));
}
