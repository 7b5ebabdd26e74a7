use lwt::{lwt, ret, Promise};

/// A resource that cannot be cloned.
struct Connection;

impl Connection {
    fn send(&self, _n: u32) -> Promise<()> {
        lwt::return_unit()
    }
}

fn main() {
    let conn = Connection;
    // The body binds, so each iteration runs on a clone of what it captures: `conn` too.
    let _p: Promise<()> = lwt! {
        for i in 0..3 {
            let n = ret(i);
            conn.send(n);
        }
    };
}
