use lwt::{fail_with, lwt, ret, Promise};

fn find(key: &'static str) -> Promise<Option<u32>> {
    ret(key.len().checked_sub(1).map(|n| n as u32))
}

// A refutable pattern needs `else`: its promise replaces the rest of the block.
fn get(key: &'static str) -> Promise<u32> {
    lwt! {
        let Some(value) = find(key) else {
            fail_with("no such key")
        };
        ret(value)
    }
}

fn main() {
    let _ = get("a");
}
