use lwt::{lwt, ret, Promise};

fn line() -> Promise<String> {
    ret(String::from("/quit"))
}

fn main() {
    // A pattern of the wrong type: the scrutinee is labelled with its type, not the whole call.
    let _p: Promise<u8> = lwt! {
        match line() {
            "/quit" => ret(0),
            _other => ret(1),
        }
    };
    let _q: Promise<u8> = lwt! {
        match line() {
            "/quit" => ret(0),
            _other => ret(1),
            exception _ => ret(2),
        }
    };
}
