//! Compile-fail tests of `lwt!`: each `tests/ui/*.rs` must fail to compile with the errors in its
//! `.stderr` (regenerate with `TRYBUILD=overwrite`, then read every snapshot).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
