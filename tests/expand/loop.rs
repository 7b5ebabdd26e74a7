use lwt::{lwt, return_unit, Promise};

fn serve_one() -> Promise<()> {
    return_unit()
}

// `loop`: forever, until a rejection ends it.
fn serve() -> Promise<()> {
    lwt! {
        loop {
            serve_one();
        }
    }
}

fn main() {
    let _ = serve();
}
