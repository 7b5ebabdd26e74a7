#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc, compile-fail (trybuild) and
# expansion (macrotest) tests. Installs the pinned cargo-expand that macrotest needs if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_EXPAND_VERSION=1.0.127
if ! cargo expand --version 2>/dev/null | grep -q "$CARGO_EXPAND_VERSION"; then
  echo "installing cargo-expand $CARGO_EXPAND_VERSION (needed by the macrotest expansion suite)"
  cargo install --locked cargo-expand --version "$CARGO_EXPAND_VERSION"
fi

cargo test --workspace --lib --bins --tests --examples
cargo test --workspace --doc
# The `futures-stream` feature's tests and docs (its code is compiled only with the feature).
cargo test -p lwt-core --features futures-stream --test stream futures_stream
cargo test -p lwt-core --features futures-stream --test future_guards fused_future
cargo test -p lwt-core --features futures-stream --doc futures
# `lwt!` in a crate of edition 2024 (let chains); it shares the workspace's build directory
# (`--target-dir` overrides CARGO_TARGET_DIR, so pass that on when it is set).
cargo run --quiet --manifest-path tests/edition2024/Cargo.toml --target-dir "${CARGO_TARGET_DIR:-target}"

# The one module with `unsafe` code (lwt-core/src/once_fn.rs) is checked for memory errors by
# Valgrind's memcheck when `valgrind` is installed (it is on the project's machines; Debian's
# package `valgrind` otherwise), and for undefined behaviour by Miri when a nightly toolchain with
# Miri is installed (`rustup toolchain install nightly --component miri`). Its tests also ran
# above, natively.
#
# Memcheck runs the test binaries built above (a runner does not change the build): once_fn's
# unit tests, and the engine's and the combinators' tests, which drive continuations, inline and
# boxed, through every callback path. Any invalid read, write or free, or a jump on an
# uninitialized value, fails the run (exit code 99). Leaks are not checked: a thread that exits
# with work still pending forgets it on purpose (see `Engine`'s `Drop`). The four tests that
# loop 10,000 times or more are left out, as under Miri.
if command -v valgrind >/dev/null; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  runner_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
  memcheck="valgrind --quiet --error-exitcode=99 --leak-check=no"
  env "$runner_var=$memcheck" cargo test -p lwt-core --lib once_fn
  env "$runner_var=$memcheck" cargo test -p lwt-core --test engine --test combinators -- \
    --skip deeply_nested --skip long_chain --skip dead_waiters_between
else
  echo "valgrind not installed: skipping the memcheck runs of lwt-core's once_fn, engine and combinator tests"
fi
if cargo +nightly miri --version >/dev/null 2>&1; then
  # once_fn's own tests, one of which drives continuations through the promise engine. The
  # engine's and the combinators' suites are not run under Miri: tried on 2026-12-06 (session
  # 45, without the four long loops), Miri grew past the machine's 24 GiB and was killed by the
  # kernel after 11 minutes; memcheck above runs them.
  cargo +nightly miri test -p lwt-core --lib once_fn
else
  echo "Miri not installed: skipping the Miri run of lwt-core's once_fn tests"
fi
