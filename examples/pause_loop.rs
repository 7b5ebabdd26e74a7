//! A loop that yields to the scheduler N times (default 1,000,000), then a sleep of S seconds
//! (default 0). Used to measure syscalls per pause (`strace -c`) and CPU use while sleeping
//! (`/usr/bin/time -v`); see `bench/README.md`.
//!
//! `cargo run --release --example pause_loop -- 1000000 2`

use std::time::Duration;

use lwt::{main, unix, Promise};

/// Pauses `n` times, counting the resumptions (a tail-recursive promise loop: constant memory).
fn pauses(n: u64, done: u64) -> Promise<u64> {
    if n == 0 {
        return Promise::ret(done);
    }
    main::pause().bind(move |()| pauses(n - 1, done + 1))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let done = main::run(pauses(n, 0)).expect("the pause loop");
    main::run(unix::sleep(Duration::from_secs_f64(secs))).expect("the sleep");
    println!("{done} pauses, then slept {secs} s");
}
