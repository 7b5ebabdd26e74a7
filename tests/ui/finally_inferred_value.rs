use lwt::{lwt, ret, Promise};

// A value convertible to the cleanup's promise: `From` gives `Promise<()>`, but `.into()`
// leaves its type to the context, which a `finally` block does not fix (the cleanup is
// checked as any `Promise<()>`-like value). The error belongs at `.into()`, and rustc's help
// must be code that compiles.
struct Wrap;

impl From<Wrap> for Promise<()> {
    fn from(_: Wrap) -> Promise<()> {
        ret(())
    }
}

fn value(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        try { p } finally { Wrap.into() }
    }
}

fn statement(p: Promise<u8>) -> Promise<u8> {
    lwt! {
        try { p } finally { Wrap.into(); }
    }
}

fn main() {
    let _ = value(ret(1));
    let _ = statement(ret(1));
}
