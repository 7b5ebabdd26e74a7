use lwt::{lwt, ret, return_unit, Promise};
fn next_line() -> Promise<Option<String>> {
    ret(None)
}
fn print(_line: String) -> Promise<()> {
    return_unit()
}
fn print_all() -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        __lwt::while_let(move |__step| match __step {
            __lwt::LetStep::Next => __lwt::LetNext::value(next_line()),
            __lwt::LetStep::Body(__value) => {
                match { __value } {
                    Some(line) => __lwt::LetNext::body(print(line)),
                    _ => __lwt::LetNext::stop(),
                }
            }
        })
    }
}
fn main() {
    let _ = print_all();
}
