use lwt::{lwt, ret, Promise};
struct Timeout;
#[automatically_derived]
impl ::core::fmt::Debug for Timeout {
    #[inline]
    fn fmt(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
        ::core::fmt::Formatter::write_str(f, "Timeout")
    }
}
impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timeout")
    }
}
impl std::error::Error for Timeout {}
fn fetch() -> Promise<String> {
    ret("page".to_string())
}
fn fetch_or_default() -> Promise<String> {
    {
        use ::lwt::control as __lwt;
        __lwt::catch(
            __lwt::guard(|| __lwt::bind(fetch(), move |page| ret(page.to_uppercase()))),
            move |__exn| match __exn {
                __lwt_caught if __lwt::catches::<Timeout>(&__lwt_caught) => {
                    ret(String::new())
                }
                __lwt_caught if __lwt::catches::<std::io::Error>(&__lwt_caught) => {
                    let e = __lwt::caught::<std::io::Error>(__lwt_caught);
                    ret(
                        ::alloc::__export::must_use({
                            ::alloc::fmt::format(format_args!("io: {0}", e))
                        }),
                    )
                }
                __exn => __lwt::reraise(__exn),
            },
        )
    }
}
fn main() {
    let _ = fetch_or_default();
}
