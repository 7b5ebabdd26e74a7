use lwt::{lwt, ret, return_unit, Promise};

fn tick(_i: u32) -> Promise<()> {
    return_unit()
}

// for%lwt `to` and `downto`: a range, evaluated once; `.rev()` counts down.
fn count(n: u32) -> Promise<()> {
    lwt! {
        for i in 1..=n {
            tick(i);
        }
        for i in (1..=n).rev() {
            tick(i);
        }
    }
}

fn main() {
    let _ = count(3);
    let _ = ret(());
}
