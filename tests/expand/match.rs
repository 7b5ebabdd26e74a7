use lwt::{lwt, ret, Promise};

// `match` waits for the promise and matches its value (match%lwt without exception cases).
fn describe(p: Promise<Option<u32>>) -> Promise<String> {
    lwt! {
        match p {
            Some(n) if n > 9 => ret("big".to_string()),
            Some(n) => ret(n.to_string()),
            None => {
                let fallback = ret("none");
                ret(fallback.to_string())
            }
        }
    }
}

fn main() {
    let _ = describe(ret(None));
}
