// A `for` over a generic iterable whose iterator is not known to be `'static` (the loop's
// iterator outlives the function's code). Current output (rev148): E0310 twice, at `for` and at
// the iterable, both with the right `where` help; 5bfb664 reported it once, at `for`, and
// df7f3c3 three times (one naming `__lwt::iterable`'s opaque type).
use lwt::{lwt, ret, Promise};

fn take(_: u8) -> Promise<()> {
    ret(())
}

fn all<I: IntoIterator<Item = u8>>(items: I) -> Promise<()> {
    lwt! {
        for x in items {
            take(x)
        }
    }
}

fn main() {
    let _ = all(vec![1]);
}
