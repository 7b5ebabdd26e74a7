use lwt::{lwt, ret, Promise};
struct NotFound;
#[automatically_derived]
impl ::core::fmt::Debug for NotFound {
    #[inline]
    fn fmt(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
        ::core::fmt::Formatter::write_str(f, "NotFound")
    }
}
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}
impl std::error::Error for NotFound {}
fn read(p: Promise<u32>) -> Promise<u32> {
    {
        use ::lwt::control as __lwt;
        __lwt::outcome(
            __lwt::scrutinee(|| __lwt::scrutinee_promise(p)),
            move |__outcome| match __outcome {
                __lwt::Ok(__value) => {
                    match { __value } {
                        n => ret(n),
                    }
                }
                __lwt::Err(__lwt_caught) if __lwt::catches::<NotFound>(&__lwt_caught) => {
                    ret(0)
                }
                __lwt::Err(
                    __lwt_caught,
                ) if __lwt::caught_ref::<std::io::Error>(&__lwt_caught)
                    .is_some_and(|e| {
                        let _ = &e;
                        e.kind() == std::io::ErrorKind::Interrupted
                    }) => {
                    let e = __lwt::caught::<std::io::Error>(__lwt_caught);
                    let _ = &e;
                    ret(1)
                }
                __lwt::Err(__exn) => __lwt::reraise(__exn),
            },
        )
    }
}
fn main() {
    let _ = read(ret(1));
}
