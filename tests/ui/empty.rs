use lwt::{lwt, Promise};

fn main() {
    let _p: Promise<()> = lwt! {};
}
