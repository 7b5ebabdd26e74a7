use lwt::{lwt, ret, Promise};
fn sum(a: Promise<u32>, b: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        let __block = {
            let __and0 = __lwt::Bindable::into_promise(a);
            let __and1 = __lwt::Bindable::into_promise(b);
            __lwt::bind(
                __and0,
                move |x| __lwt::bind(
                    __and1,
                    move |__value| {
                        let y: u32 = __value;
                        ret(x + y)
                    },
                ),
            )
        };
        __block
    }
}
fn main() {
    let _ = sum(ret(1), ret(2));
}
