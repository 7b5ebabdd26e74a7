use lwt::{lwt, ret, Promise};

fn next() -> Promise<Option<u32>> {
    ret(None)
}

fn handle(_x: u32) -> Promise<()> {
    lwt::return_unit()
}

// `break` and `continue`: the body, and each statement in it that contains one, is a
// `Promise<Flow>`; `flow_seq` runs the rest of the body only after `Flow::Next`.
fn run() -> Promise<()> {
    lwt! {
        loop {
            let Some(x) = next() else {
                break;
            };
            if x % 2 == 0 {
                continue;
            }
            handle(x);
        }
    }
}

fn main() {
    let _ = run();
}
