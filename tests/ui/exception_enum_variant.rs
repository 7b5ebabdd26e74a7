use lwt::{lwt, ret, Promise};

#[derive(Debug)]
enum DbError {
    NotFound,
    Busy,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DbError {}

fn query() -> Promise<u8> {
    lwt::fail(DbError::Busy)
}

fn main() {
    // OCaml's `exception Not_found`: rejection arms match a type, not a variant.
    let _p: Promise<u8> = lwt! {
        match query() {
            v => ret(v),
            exception DbError::NotFound => ret(0),
        }
    };
    let _q: Promise<u8> = lwt! {
        try { query() } catch { DbError::Busy => ret(1) }
    };
}
