use lwt::{lwt, ret, return_unit, Promise};

fn close() -> Promise<()> {
    return_unit()
}

// `finally` ([%finally]): the cleanup runs on fulfilment and on rejection.
fn with_file(work: Promise<u32>) -> Promise<u32> {
    lwt! {
        try {
            let n = work;
            ret(n + 1)
        } finally {
            close();
        }
    }
}

fn main() {
    let _ = with_file(ret(1));
}
