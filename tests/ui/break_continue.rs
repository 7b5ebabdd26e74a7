use lwt::{lwt, Promise};

fn main() {
    // Rust's own `break`/`continue`, inside plain code: they cannot reach the loop.
    let _p: Promise<()> = lwt! {
        for i in 0..10 {
            do if i == 5 { break; }
        }
        while true {
            do continue;
        }
    };
}
