use lwt::{lwt, ret, Promise};

#[derive(Debug)]
struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timeout")
    }
}

impl std::error::Error for Timeout {}

fn fetch() -> Promise<String> {
    ret("page".to_string())
}

// `try { .. } catch { .. }` (try%lwt): typed handlers; unmatched rejections pass through.
fn fetch_or_default() -> Promise<String> {
    lwt! {
        try {
            let page = fetch();
            ret(page.to_uppercase())
        } catch {
            Timeout => ret(String::new()),
            e: std::io::Error => ret(format!("io: {e}")),
        }
    }
}

fn main() {
    let _ = fetch_or_default();
}
