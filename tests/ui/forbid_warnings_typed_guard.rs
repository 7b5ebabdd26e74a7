// A typed rejection arm with a guard, in a crate under `#![forbid(warnings)]`: the expansion must
// not carry an `allow` (a binding used only by the guard, or a guard that does not look at the
// binding, is used by a borrow instead), which rustc reports as overruled by the `forbid`
// (`forbidden_lint_groups`, "will become a hard error"), at the `lwt!`. The one error below is
// there only so that the output, which must show no warning, is compared.
#![forbid(warnings)]

use lwt::{lwt, Failure, Promise};

fn guard_ignores_binding(retry: bool) -> Promise<String> {
    lwt! {
        match Promise::<u8>::fail_with("boom") {
            n => do n.to_string(),
            exception e: Failure if retry => do format!("caught {}", e.0),
            exception _ => do "other".to_string(),
        }
    }
}

fn body_ignores_binding() -> Promise<String> {
    lwt! {
        try { Promise::fail_with("boom") } catch {
            e: Failure if e.0.is_empty() => do String::new(),
            _ => do "other".to_string(),
        }
    }
}

fn main() {
    let _ = (guard_ignores_binding(true), body_ignores_binding());
    let _: u8 = "the one error";
}
