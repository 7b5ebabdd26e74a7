use lwt::{lwt, ret, Promise};

fn lookup(id: u32) -> Promise<String> {
    ret(format!("user {id}"))
}

// `let` binds a promise (let%lwt); the last expression is the block's promise, with no extra bind.
fn greet(id: Promise<u32>) -> Promise<String> {
    lwt! {
        let id = id;
        let name: String = lookup(id);
        let (first, _) = ret((name.len(), ()));
        ret(format!("{name} ({first})"))
    }
}

fn main() {
    let _ = greet(ret(1));
}
