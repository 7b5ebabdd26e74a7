use lwt::{lwt, ret, return_unit, Promise};
fn tick(_i: u32) -> Promise<()> {
    return_unit()
}
fn count(n: u32) -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::seq(
            __lwt::guard(|| __lwt::for_each(
                __lwt::iterable(1..=n),
                move |i| __lwt::loop_body(tick(i)),
            )),
            move || __lwt::guard(|| __lwt::for_each(
                __lwt::iterable(__lwt::evaluate(|| (1..=n).rev())),
                move |i| __lwt::loop_body(tick(i)),
            )),
        );
        __block
    }
}
fn main() {
    let _ = count(3);
    let _ = ret(());
}
