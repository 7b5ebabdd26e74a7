use lwt::{lwt, Promise};

fn fail_fast(p: Promise<Option<u32>>, q: Promise<u32>) -> Promise<u32> {
    lwt! {
        #[fail_fast]
        let Some(x) = p and y = q;
        do x + y
    }
}

fn joined(p: Promise<u32>, q: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        let x = p and Some(y) = q;
        do x + y
    }
}

fn main() {
    let _ = (fail_fast, joined);
}
