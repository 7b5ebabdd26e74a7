use lwt::{lwt, ret, return_unit, Promise};
fn write(_line: &str) -> Promise<()> {
    return_unit()
}
fn two_lines() -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::seq(write("one"), move || __lwt::last(write("two")));
        __block
    }
}
fn main() {
    let _ = two_lines();
    let _ = ret(());
}
