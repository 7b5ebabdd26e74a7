//! Found in review (session 28): a typed rejection arm whose guard does not mention its binding
//! (`exception e: Failure if retry => .. e ..`) warned "unused variable: `e`" although the arm's
//! body uses it, which fails a `#![deny(warnings)]` build. The guard's own use, the body's, or
//! both, must not warn.
#![deny(warnings)]

use lwt::{lwt, main, Failure, Promise};

fn guard_ignores_binding(retry: bool) -> Promise<String> {
    lwt! {
        match Promise::<u8>::fail_with("boom") {
            n => do n.to_string(),
            exception e: Failure if retry => do format!("caught {}", e.0),
            exception _ => do "other".to_string(),
        }
    }
}

fn catch_guard_ignores_binding(retry: bool) -> Promise<String> {
    lwt! {
        try { Promise::fail_with("boom") } catch {
            e: Failure if retry => do e.0.clone(),
            e: Failure if e.0.is_empty() => do String::new(),
            _ => do "other".to_string(),
        }
    }
}

fn main() {
    assert_eq!(main::run(guard_ignores_binding(true)).unwrap(), "caught boom");
    assert_eq!(main::run(guard_ignores_binding(false)).unwrap(), "other");
    assert_eq!(main::run(catch_guard_ignores_binding(true)).unwrap(), "boom");
    assert_eq!(main::run(catch_guard_ignores_binding(false)).unwrap(), "other");
}
