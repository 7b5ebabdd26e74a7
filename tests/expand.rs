//! Expansion snapshots of `lwt!`: one file per form in `tests/expand/*.rs`, its expansion in
//! `*.expanded.rs` (regenerate with `MACROTEST=overwrite`). Needs `cargo-expand`; the README's
//! test command (`scripts/test.sh`) installs the pinned version when it is missing.

#[test]
fn expansions() {
    macrotest::expand("tests/expand/*.rs");
}
