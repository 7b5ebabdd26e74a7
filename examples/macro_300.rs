//! A 300-statement `lwt!` block (50 rounds of six statements: `let`, `do let`, `;` or `for`,
//! `let .. = if`, `let .. = match`, `assert!`), to measure the macro's compile time:
//!
//! ```sh
//! cargo build --example macro_300    # once, for the dependencies
//! touch examples/macro_300.rs && time cargo build --example macro_300
//! ```
//!
//! The result is recorded in `docs/lwt-macro.md`. The block is generated; it computes 105.
//!
//! Each binding statement nests one closure in the next, and rustc's monomorphization stops at
//! `recursion_limit` (128 by default) nested instances of one function: a single block with more
//! than about 120 binding statements needs a higher limit (or to be split into functions).

#![recursion_limit = "512"]

use lwt::{lwt, ret, return_unit, Promise, State};

fn step(x: u64) -> Promise<u64> {
    ret(x + 1)
}

fn tick() -> Promise<()> {
    return_unit()
}

fn big() -> Promise<u64> {
    lwt! {
        let a0 = step(0);
        do let b0 = a0 % 1000;
        tick();
        let c0 = if b0 % 2 == 0 { step(b0) } else { ret(b0) };
        let d0 = match step(c0) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d0 > 0);
        let a1 = step(d0);
        do let b1 = a1 % 1000;
        tick();
        let c1 = if b1 % 2 == 0 { step(b1) } else { ret(b1) };
        let d1 = match step(c1) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d1 > 0);
        let a2 = step(d1);
        do let b2 = a2 % 1000;
        tick();
        let c2 = if b2 % 2 == 0 { step(b2) } else { ret(b2) };
        let d2 = match step(c2) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d2 > 0);
        let a3 = step(d2);
        do let b3 = a3 % 1000;
        tick();
        let c3 = if b3 % 2 == 0 { step(b3) } else { ret(b3) };
        let d3 = match step(c3) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d3 > 0);
        let a4 = step(d3);
        do let b4 = a4 % 1000;
        tick();
        let c4 = if b4 % 2 == 0 { step(b4) } else { ret(b4) };
        let d4 = match step(c4) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d4 > 0);
        let a5 = step(d4);
        do let b5 = a5 % 1000;
        tick();
        let c5 = if b5 % 2 == 0 { step(b5) } else { ret(b5) };
        let d5 = match step(c5) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d5 > 0);
        let a6 = step(d5);
        do let b6 = a6 % 1000;
        tick();
        let c6 = if b6 % 2 == 0 { step(b6) } else { ret(b6) };
        let d6 = match step(c6) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d6 > 0);
        let a7 = step(d6);
        do let b7 = a7 % 1000;
        tick();
        let c7 = if b7 % 2 == 0 { step(b7) } else { ret(b7) };
        let d7 = match step(c7) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d7 > 0);
        let a8 = step(d7);
        do let b8 = a8 % 1000;
        tick();
        let c8 = if b8 % 2 == 0 { step(b8) } else { ret(b8) };
        let d8 = match step(c8) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d8 > 0);
        let a9 = step(d8);
        do let b9 = a9 % 1000;
        for _ in 0..2 { tick(); }
        let c9 = if b9 % 2 == 0 { step(b9) } else { ret(b9) };
        let d9 = match step(c9) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d9 > 0);
        let a10 = step(d9);
        do let b10 = a10 % 1000;
        tick();
        let c10 = if b10 % 2 == 0 { step(b10) } else { ret(b10) };
        let d10 = match step(c10) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d10 > 0);
        let a11 = step(d10);
        do let b11 = a11 % 1000;
        tick();
        let c11 = if b11 % 2 == 0 { step(b11) } else { ret(b11) };
        let d11 = match step(c11) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d11 > 0);
        let a12 = step(d11);
        do let b12 = a12 % 1000;
        tick();
        let c12 = if b12 % 2 == 0 { step(b12) } else { ret(b12) };
        let d12 = match step(c12) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d12 > 0);
        let a13 = step(d12);
        do let b13 = a13 % 1000;
        tick();
        let c13 = if b13 % 2 == 0 { step(b13) } else { ret(b13) };
        let d13 = match step(c13) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d13 > 0);
        let a14 = step(d13);
        do let b14 = a14 % 1000;
        tick();
        let c14 = if b14 % 2 == 0 { step(b14) } else { ret(b14) };
        let d14 = match step(c14) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d14 > 0);
        let a15 = step(d14);
        do let b15 = a15 % 1000;
        tick();
        let c15 = if b15 % 2 == 0 { step(b15) } else { ret(b15) };
        let d15 = match step(c15) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d15 > 0);
        let a16 = step(d15);
        do let b16 = a16 % 1000;
        tick();
        let c16 = if b16 % 2 == 0 { step(b16) } else { ret(b16) };
        let d16 = match step(c16) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d16 > 0);
        let a17 = step(d16);
        do let b17 = a17 % 1000;
        tick();
        let c17 = if b17 % 2 == 0 { step(b17) } else { ret(b17) };
        let d17 = match step(c17) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d17 > 0);
        let a18 = step(d17);
        do let b18 = a18 % 1000;
        tick();
        let c18 = if b18 % 2 == 0 { step(b18) } else { ret(b18) };
        let d18 = match step(c18) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d18 > 0);
        let a19 = step(d18);
        do let b19 = a19 % 1000;
        for _ in 0..2 { tick(); }
        let c19 = if b19 % 2 == 0 { step(b19) } else { ret(b19) };
        let d19 = match step(c19) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d19 > 0);
        let a20 = step(d19);
        do let b20 = a20 % 1000;
        tick();
        let c20 = if b20 % 2 == 0 { step(b20) } else { ret(b20) };
        let d20 = match step(c20) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d20 > 0);
        let a21 = step(d20);
        do let b21 = a21 % 1000;
        tick();
        let c21 = if b21 % 2 == 0 { step(b21) } else { ret(b21) };
        let d21 = match step(c21) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d21 > 0);
        let a22 = step(d21);
        do let b22 = a22 % 1000;
        tick();
        let c22 = if b22 % 2 == 0 { step(b22) } else { ret(b22) };
        let d22 = match step(c22) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d22 > 0);
        let a23 = step(d22);
        do let b23 = a23 % 1000;
        tick();
        let c23 = if b23 % 2 == 0 { step(b23) } else { ret(b23) };
        let d23 = match step(c23) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d23 > 0);
        let a24 = step(d23);
        do let b24 = a24 % 1000;
        tick();
        let c24 = if b24 % 2 == 0 { step(b24) } else { ret(b24) };
        let d24 = match step(c24) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d24 > 0);
        let a25 = step(d24);
        do let b25 = a25 % 1000;
        tick();
        let c25 = if b25 % 2 == 0 { step(b25) } else { ret(b25) };
        let d25 = match step(c25) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d25 > 0);
        let a26 = step(d25);
        do let b26 = a26 % 1000;
        tick();
        let c26 = if b26 % 2 == 0 { step(b26) } else { ret(b26) };
        let d26 = match step(c26) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d26 > 0);
        let a27 = step(d26);
        do let b27 = a27 % 1000;
        tick();
        let c27 = if b27 % 2 == 0 { step(b27) } else { ret(b27) };
        let d27 = match step(c27) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d27 > 0);
        let a28 = step(d27);
        do let b28 = a28 % 1000;
        tick();
        let c28 = if b28 % 2 == 0 { step(b28) } else { ret(b28) };
        let d28 = match step(c28) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d28 > 0);
        let a29 = step(d28);
        do let b29 = a29 % 1000;
        for _ in 0..2 { tick(); }
        let c29 = if b29 % 2 == 0 { step(b29) } else { ret(b29) };
        let d29 = match step(c29) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d29 > 0);
        let a30 = step(d29);
        do let b30 = a30 % 1000;
        tick();
        let c30 = if b30 % 2 == 0 { step(b30) } else { ret(b30) };
        let d30 = match step(c30) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d30 > 0);
        let a31 = step(d30);
        do let b31 = a31 % 1000;
        tick();
        let c31 = if b31 % 2 == 0 { step(b31) } else { ret(b31) };
        let d31 = match step(c31) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d31 > 0);
        let a32 = step(d31);
        do let b32 = a32 % 1000;
        tick();
        let c32 = if b32 % 2 == 0 { step(b32) } else { ret(b32) };
        let d32 = match step(c32) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d32 > 0);
        let a33 = step(d32);
        do let b33 = a33 % 1000;
        tick();
        let c33 = if b33 % 2 == 0 { step(b33) } else { ret(b33) };
        let d33 = match step(c33) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d33 > 0);
        let a34 = step(d33);
        do let b34 = a34 % 1000;
        tick();
        let c34 = if b34 % 2 == 0 { step(b34) } else { ret(b34) };
        let d34 = match step(c34) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d34 > 0);
        let a35 = step(d34);
        do let b35 = a35 % 1000;
        tick();
        let c35 = if b35 % 2 == 0 { step(b35) } else { ret(b35) };
        let d35 = match step(c35) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d35 > 0);
        let a36 = step(d35);
        do let b36 = a36 % 1000;
        tick();
        let c36 = if b36 % 2 == 0 { step(b36) } else { ret(b36) };
        let d36 = match step(c36) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d36 > 0);
        let a37 = step(d36);
        do let b37 = a37 % 1000;
        tick();
        let c37 = if b37 % 2 == 0 { step(b37) } else { ret(b37) };
        let d37 = match step(c37) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d37 > 0);
        let a38 = step(d37);
        do let b38 = a38 % 1000;
        tick();
        let c38 = if b38 % 2 == 0 { step(b38) } else { ret(b38) };
        let d38 = match step(c38) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d38 > 0);
        let a39 = step(d38);
        do let b39 = a39 % 1000;
        for _ in 0..2 { tick(); }
        let c39 = if b39 % 2 == 0 { step(b39) } else { ret(b39) };
        let d39 = match step(c39) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d39 > 0);
        let a40 = step(d39);
        do let b40 = a40 % 1000;
        tick();
        let c40 = if b40 % 2 == 0 { step(b40) } else { ret(b40) };
        let d40 = match step(c40) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d40 > 0);
        let a41 = step(d40);
        do let b41 = a41 % 1000;
        tick();
        let c41 = if b41 % 2 == 0 { step(b41) } else { ret(b41) };
        let d41 = match step(c41) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d41 > 0);
        let a42 = step(d41);
        do let b42 = a42 % 1000;
        tick();
        let c42 = if b42 % 2 == 0 { step(b42) } else { ret(b42) };
        let d42 = match step(c42) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d42 > 0);
        let a43 = step(d42);
        do let b43 = a43 % 1000;
        tick();
        let c43 = if b43 % 2 == 0 { step(b43) } else { ret(b43) };
        let d43 = match step(c43) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d43 > 0);
        let a44 = step(d43);
        do let b44 = a44 % 1000;
        tick();
        let c44 = if b44 % 2 == 0 { step(b44) } else { ret(b44) };
        let d44 = match step(c44) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d44 > 0);
        let a45 = step(d44);
        do let b45 = a45 % 1000;
        tick();
        let c45 = if b45 % 2 == 0 { step(b45) } else { ret(b45) };
        let d45 = match step(c45) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d45 > 0);
        let a46 = step(d45);
        do let b46 = a46 % 1000;
        tick();
        let c46 = if b46 % 2 == 0 { step(b46) } else { ret(b46) };
        let d46 = match step(c46) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d46 > 0);
        let a47 = step(d46);
        do let b47 = a47 % 1000;
        tick();
        let c47 = if b47 % 2 == 0 { step(b47) } else { ret(b47) };
        let d47 = match step(c47) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d47 > 0);
        let a48 = step(d47);
        do let b48 = a48 % 1000;
        tick();
        let c48 = if b48 % 2 == 0 { step(b48) } else { ret(b48) };
        let d48 = match step(c48) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d48 > 0);
        let a49 = step(d48);
        do let b49 = a49 % 1000;
        for _ in 0..2 { tick(); }
        let c49 = if b49 % 2 == 0 { step(b49) } else { ret(b49) };
        let d49 = match step(c49) { n if n > 10 => ret(n - 1), n => ret(n + 1) };
        assert!(d49 > 0);
        ret(d49)
    }
}

fn main() {
    assert_eq!(big().state(), State::Fulfilled(105));
    println!("300 statements: {:?}", big().state());
}
