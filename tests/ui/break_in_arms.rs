use lwt::{lwt, ret, Promise};

fn main() {
    // A missing `,` after a `break` or `continue` arm.
    let _a: Promise<()> = lwt! {
        loop {
            match ret(1) {
                1 => break
                2 => continue
                _ => ret(()),
            }
        }
    };
    // `continue` takes no value.
    let _b: Promise<()> = lwt! {
        loop {
            continue 5;
        }
    };
}
