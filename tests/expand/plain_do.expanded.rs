use lwt::{lwt, ret, Promise};
fn count(words: Promise<Vec<String>>) -> Promise<usize> {
    {
        use ::lwt::control as __lwt;
        let __block = __lwt::bind(
            words,
            move |words| {
                let mut n = 0;
                for w in &words {
                    n += w.len();
                }
                {
                    ::std::io::_print(format_args!("{0} letters\n", n));
                };
                __lwt::ret(n)
            },
        );
        __block
    }
}
fn main() {
    let _ = count(ret(::alloc::vec::Vec::new()));
}
