use lwt::{lwt, ret, Promise};
fn checked(p: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            p,
            move |n| __lwt::seq(
                __lwt::guard(|| __lwt::assert(
                    n > 0,
                    || ::core::convert::Into::into("assertion failed: n > 0"),
                )),
                move || __lwt::seq(
                    __lwt::guard(|| __lwt::assert_eq(
                        &(n % 2),
                        &0,
                        || ::core::option::Option::Some(
                            ::alloc::__export::must_use({
                                ::alloc::fmt::format(format_args!("{0} is odd", n))
                            }),
                        ),
                    )),
                    move || ret(n / 2),
                ),
            ),
        );
        __block
    }
}
fn main() {
    let _ = checked(ret(2));
}
