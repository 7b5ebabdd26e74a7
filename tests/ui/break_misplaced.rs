use lwt::{lwt, ret, return_unit, Promise};

fn main() {
    // Outside of any loop.
    let _a: Promise<()> = lwt! {
        return_unit();
        break;
    };
    // With a value, or a label.
    let _b: Promise<()> = lwt! {
        loop {
            break 5;
        }
    };
    let _c: Promise<()> = lwt! {
        loop {
            continue 'outer;
        }
    };
    // In a cleanup, or in the value of a `let`.
    let _d: Promise<()> = lwt! {
        loop {
            try {
                return_unit()
            } finally {
                break;
            }
        }
    };
    let _e: Promise<()> = lwt! {
        loop {
            let x = match ret(Some(1)) {
                Some(x) => ret(x),
                None => break,
            };
            do println!("{x}");
        }
    };
    // With code after it, which would never run.
    let _f: Promise<()> = lwt! {
        for i in 0..3 {
            continue;
            do println!("{i}");
        }
    };
}
