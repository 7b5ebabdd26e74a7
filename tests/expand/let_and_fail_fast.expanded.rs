use lwt::{lwt, ret, Promise};
fn sum3(a: Promise<u32>, b: Promise<u32>, c: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            __lwt::both(
                __lwt::Bindable::into_promise(a),
                __lwt::both(
                    __lwt::Bindable::into_promise(b),
                    __lwt::Bindable::into_promise(c),
                ),
            ),
            move |(__value0, (__value1, __value2))| {
                let x = __value0;
                let y = __value1;
                let z: u32 = __value2;
                ret(x + y + z)
            },
        );
        __block
    }
}
fn main() {
    let _ = sum3(ret(1), ret(2), ret(3));
}
