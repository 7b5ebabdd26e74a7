use lwt::{lwt, ret, return_unit, Promise};
fn close() -> Promise<()> {
    return_unit()
}
fn with_file(work: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        __lwt::finalize(
            __lwt::guard(|| __lwt::bind(work, move |n| ret(n + 1))),
            move || __lwt::cleanup(close()),
        )
    }
}
fn main() {
    let _ = with_file(ret(1));
}
