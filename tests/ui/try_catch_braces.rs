// `try` and `catch` without their braces (rev96 #13): the message shows the form, where syn
// would say only "expected curly braces".
use lwt::{lwt, ret, Promise};

fn catch_parens() -> Promise<u8> {
    lwt! {
        try { ret(1_u8) } catch (e) { ret(2) }
    }
}

fn try_expr(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        try p catch { _ => ret(2) }
    }
}

fn main() {
    let _ = (catch_parens(), try_expr(ret(1)));
}
