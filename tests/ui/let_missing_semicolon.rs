// A binding `let` without its `;` (rev92): the error is at the end of the `let`, not syn's bare
// "expected `;`" at the next statement, which is right.
use lwt::{lwt, ret, Promise};

fn plain() -> Promise<()> {
    lwt! {
        let x = ret(1)
        do println!("{x}");
    }
}

fn parallel() -> Promise<i32> {
    lwt! {
        let a = ret(1) and b = ret(2)
        ret(a + b)
    }
}

fn let_else(p: Promise<Option<i32>>) -> Promise<i32> {
    lwt! {
        let Some(x) = p else { ret(0) }
        ret(x)
    }
}

fn form() -> Promise<i32> {
    lwt! {
        let x = match ret(1) { n => ret(n + 1) }
        ret(x)
    }
}

fn main() {
    let _ = (plain(), parallel(), let_else(ret(None)), form());
}
