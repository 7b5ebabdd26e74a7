use lwt::{lwt, ret, Promise};
fn sign(positive: Promise<bool>, n: i32) -> Promise<&'static str> {
    {
        use ::lwt::control as __lwt;
        __lwt::branch(
            positive,
            move |__cond| {
                if __cond {
                    ret("+")
                } else {
                    __lwt::branch(
                        n == 0,
                        move |__cond| if __cond { ret("0") } else { ret("-") },
                    )
                }
            },
        )
    }
}
fn main() {
    let _ = sign(ret(true), 1);
}
