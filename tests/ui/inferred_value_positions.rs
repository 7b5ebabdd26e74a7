use lwt::{lwt, ret, Promise};

// `finally_inferred_value.rs` in the other positions whose value is checked by a runtime
// function: an `if` without `else`, a loop body (before a wait, and after one), a statement.
// Each error is at the user's `.into()`; no help offers a turbofish on a keyword (`if::<P>`).
struct Wrap;

impl From<Wrap> for Promise<()> {
    fn from(_: Wrap) -> Promise<()> {
        ret(())
    }
}

fn branch(c: bool) -> Promise<()> {
    lwt! {
        if c { Wrap.into() }
    }
}

fn body(v: Vec<u8>) -> Promise<()> {
    lwt! {
        for _x in v { Wrap.into() }
    }
}

fn after_wait(v: Vec<u8>) -> Promise<()> {
    lwt! {
        for _x in v { let _y = ret(1); Wrap.into(); }
    }
}

fn stmt() -> Promise<()> {
    lwt! {
        Wrap.into();
        ret(())
    }
}

fn while_body(n: u8) -> Promise<()> {
    lwt! {
        while n > 0 { Wrap.into() }
    }
}

fn while_let_body(p: Promise<Option<u8>>) -> Promise<()> {
    lwt! {
        while let Some(_x) = p.clone() { Wrap.into() }
    }
}

fn main() {
    let _ = branch(true);
    let _ = body(vec![]);
    let _ = after_wait(vec![]);
    let _ = stmt();
    let _ = while_body(1);
    let _ = while_let_body(ret(None));
}
