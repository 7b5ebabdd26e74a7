use lwt::{lwt, main::pause, Promise};

// A continuation may run after `greet` has returned, so it cannot hold `name`'s borrow.
fn greet(name: &str) -> Promise<()> {
    lwt! {
        let () = pause();
        do println!("hello, {name}");
    }
}

fn main() {
    let _p = greet("world");
}
