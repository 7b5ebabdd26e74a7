use lwt::{lwt, ret, Promise};

#[derive(Debug)]
struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for NotFound {}

// `exception` arms handle rejections of the promise, by the error's type (match%lwt with
// `| exception X ->`); unmatched rejections pass through.
fn read(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        match p {
            n => ret(n),
            exception NotFound => ret(0),
            exception e: std::io::Error if e.kind() == std::io::ErrorKind::Interrupted => ret(1),
        }
    }
}

fn main() {
    let _ = read(ret(1));
}
