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
# `lwt!` in a crate of edition 2024 (let chains); it shares the workspace's build directory.
cargo run --quiet --manifest-path tests/edition2024/Cargo.toml --target-dir target

# The one module with `unsafe` code (lwt-core/src/once_fn.rs) is checked for undefined
# behaviour by Miri, when a nightly toolchain with Miri is installed
# (`rustup toolchain install nightly --component miri`). Its tests also ran above, natively.
if cargo +nightly miri --version >/dev/null 2>&1; then
  cargo +nightly miri test -p lwt-core --lib once_fn
  # The engine's and the combinators' tests drive continuations, inline and boxed, through every
  # callback path. The three that loop 10,000 times or more are left out: Miri runs about a
  # thousand times slower than native code.
  cargo +nightly miri test -p lwt-core --test engine --test combinators -- \
    --skip deeply_nested --skip long_chain --skip dead_waiters_between
else
  echo "Miri not installed: skipping the Miri runs of lwt-core's once_fn, engine and combinator tests"
fi
