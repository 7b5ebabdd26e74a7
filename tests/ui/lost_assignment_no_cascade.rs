// After lost assignments alone, `lwt!` expands the block as it would without them: nothing that
// follows from the lost assignment is reported on top of it. Here a `String` and a `Vec` moved
// into the loop's closure by the assignment and used after the loop (E0382 in plain Rust), a
// value that is not `Clone` captured by a body that binds (whose closure must be `Clone`), and
// `&mut self` captured by a loop body (which must be `'static`).
use lwt::{lwt, ret, Promise};

struct Connection;

impl Connection {
    fn open() -> Connection {
        Connection
    }
}

struct Counter {
    hits: u32,
}

impl Counter {
    fn hit(&mut self) -> Promise<usize> {
        lwt! {
            do let mut name = String::new();
            do let mut seen: Vec<u32> = Vec::new();
            do let mut conn = Connection::open();
            for i in 0..3 {
                let n = ret(i);
                do name = format!("{n}");
                do seen = vec![n];
                do conn = Connection::open();
                do self.hits += 1;
            }
            do drop(conn);
            do name.len() + seen.len()
        }
    }
}

fn main() {
    let _ = Counter { hits: 0 }.hit();
}
