use lwt::{lwt, ret, Promise};

#[derive(Debug)]
enum DbError {
    NotFound(u32),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DbError {}

fn main() {
    let _p: Promise<u32> = lwt! {
        match ret(1_u32) {
            v => ret(v),
            exception DbError::NotFound(id): DbError => ret(id),
        }
    };
}
