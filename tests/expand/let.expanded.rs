use lwt::{lwt, ret, Promise};
fn lookup(id: u32) -> Promise<String> {
    ret(
        ::alloc::__export::must_use({
            ::alloc::fmt::format(format_args!("user {0}", id))
        }),
    )
}
fn greet(id: Promise<u32>) -> Promise<String> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            id,
            move |id| __lwt::bind(
                lookup(id),
                move |__value| {
                    let name: String = __value;
                    __lwt::bind(
                        ret((name.len(), ())),
                        move |(first, _)| ret(
                            ::alloc::__export::must_use({
                                ::alloc::fmt::format(format_args!("{0} ({1})", name, first))
                            }),
                        ),
                    )
                },
            ),
        );
        __block
    }
}
fn main() {
    let _ = greet(ret(1));
}
