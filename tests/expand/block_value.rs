use lwt::{lwt, ret, Promise};

// The value of a block or an arm that cannot be `!` (a name, a method call) is passed through
// `__lwt::value`, whose trait names the mistake when it is not a promise; a call (`ret(0)`)
// is left as written, since it may never return.
fn pick(ready: Promise<bool>, p: Promise<u8>) -> Promise<u8> {
    lwt! {
        let ok = ready;
        if ok { p } else { ret(0) }
    }
}

fn main() {
    let _ = pick(ret(true), ret(1));
}
