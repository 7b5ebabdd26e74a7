// OCaml that Rust reads as an expression followed by something else (rev96 #14): `begin .. end`,
// a ref's `:=` and application without parentheses each get their own message, where the
// generic "expected `;` after this statement" would point at a `;` nobody left out. A nested
// `begin .. end` is skipped to its own `end` (rev104): reading resumes after the outer one, where
// `ret x` gets its own message.
use lwt::{lwt, ret, Promise};

fn begin_end() -> Promise<u8> {
    lwt! {
        begin
            let x = ret(1_u8);
            ret(x)
        end
    }
}

fn nested_begin() -> Promise<u8> {
    lwt! {
        begin
            begin let x = ret(1_u8); ret(x) end;
            ret(2)
        end;
        ret 3
    }
}

/// Unbalanced (a variable named `begin`, rev107): reading resumes after the first `end`.
fn unbalanced_begin() -> Promise<u8> {
    lwt! {
        begin let begin = ret(1_u8); ret(begin) end;
        ret(2)
    }
}

fn ref_assign(count: std::cell::Cell<u8>) -> Promise<()> {
    lwt! {
        let x = ret(1_u8);
        count := x;
        lwt::return_unit()
    }
}

fn application() -> Promise<u8> {
    lwt! {
        let x = ret(1_u8);
        ret x
    }
}

fn missing_semicolon() -> Promise<u8> {
    lwt! {
        lwt::return_unit()
        ret(1)
    }
}

// A name whose `;` is missing, then a call: not an application.
fn missing_semicolon_after_a_name(done: Promise<()>) -> Promise<u8> {
    lwt! {
        done
        ret(1)
    }
}

fn main() {
    let _ = (begin_end(), nested_begin(), unbalanced_begin(), ref_assign(Default::default()), application(), missing_semicolon());
    let _ = missing_semicolon_after_a_name(lwt::return_unit());
}
