//! Compile-fail tests of `lwt!`: each `tests/ui/*.rs` must fail to compile with the errors in its
//! `.stderr` (regenerate with `TRYBUILD=overwrite`, then read every snapshot). Each
//! `tests/ui_pass/*.rs` must compile and run: settings the other tests cannot make (`#![no_std]`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui_pass/*.rs");
}
