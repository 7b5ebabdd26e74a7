use lwt::{lwt, ret, Promise};

// A rejection arm's type must be an error type: each arm below is reported once, at its type.
fn catch_binding() -> Promise<u32> {
    lwt! {
        try { ret(1_u32) } catch { e: String => ret(e.len() as u32) }
    }
}

fn catch_guard() -> Promise<u32> {
    lwt! {
        try { ret(1_u32) } catch { e: u32 if *e > 3 => ret(*e) }
    }
}

fn match_exception(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        match p {
            x => ret(x),
            exception _: Vec<u8> => ret(0),
        }
    }
}

fn main() {
    let _ = (catch_binding(), catch_guard(), match_exception(ret(1)), primitive_name());
}

fn primitive_name() -> Promise<u32> {
    lwt! {
        try { ret(1_u32) } catch { u32 => ret(0) }
    }
}
