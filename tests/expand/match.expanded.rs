use lwt::{lwt, ret, Promise};
fn describe(p: Promise<Option<u32>>) -> Promise<String> {
    {
        use ::lwt::control as __lwt;
        __lwt::bind_match(
            __lwt::scrutinee(|| __lwt::scrutinee_promise(p)),
            move |__value| match { __value } {
                Some(n) if n > 9 => ret("big".to_string()),
                Some(n) => ret(n.to_string()),
                None => {
                    __lwt::bind(ret("none"), move |fallback| ret(fallback.to_string()))
                }
            },
        )
    }
}
fn main() {
    let _ = describe(ret(None));
}
