use lwt::{fail_with, lwt, ret, Promise};
fn find(key: &'static str) -> Promise<Option<u32>> {
    ret(key.len().checked_sub(1).map(|n| n as u32))
}
fn get(key: &'static str) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            find(key),
            move |__value| match __value {
                Some(value) => ret(value),
                _ => fail_with("no such key"),
            },
        );
        __block
    }
}
fn main() {
    let _ = get("a");
}
