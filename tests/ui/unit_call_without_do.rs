use lwt::{lwt, ret, Promise};

// A plain call written without `do` (the port of `Lwt.cancel w;`): the error says to write
// `do expr;`, and rustc does not suggest removing the call (`w;` would compile, and wait on `w`
// instead of canceling it).
fn middle(w: Promise<()>) -> Promise<()> {
    lwt! {
        let () = ret(());
        w.cancel();
        ret(())
    }
}

fn last(w: Promise<()>) -> Promise<()> {
    lwt! {
        let () = ret(());
        w.cancel();
    }
}

fn cleanup(w: Promise<()>, p: Promise<()>) -> Promise<()> {
    lwt! {
        try { p } finally { w.cancel(); }
    }
}

#[allow(unused_parens)]
fn parenthesized(w: Promise<()>) -> Promise<()> {
    lwt! {
        let () = ret(());
        (w.cancel());
        ret(())
    }
}

fn main() {
    let _ = (middle(ret(())), last(ret(())), cleanup(ret(()), ret(())));
    let _ = parenthesized(ret(()));
}
