//! A loop that yields to the scheduler N times (default 1,000,000), then a sleep of S seconds
//! (default 0). Used to measure syscalls per pause (`strace -c`) and CPU use while sleeping
//! (`/usr/bin/time -v`); see `bench/README.md`.
//!
//! `cargo run --release --example pause_loop -- 1000000 2`

use std::process::exit;

use lwt::{main, unix, Promise};

const USAGE: &str = "usage: pause_loop [N [S]]
  N  how many times to pause, a whole number (default 1000000)
  S  seconds to sleep after the pauses, a finite number, 0 or more (default 0)";

/// Pauses `n` times, counting the resumptions (a tail-recursive promise loop: constant memory).
fn pauses(n: u64, done: u64) -> Promise<u64> {
    if n == 0 {
        return Promise::ret(done);
    }
    main::pause().bind(move |()| pauses(n - 1, done + 1))
}

/// Prints what is wrong with the arguments and the usage, and exits with status 2. A measurement
/// run with a mistyped argument must not quietly measure something else.
fn bad_arguments(what: &str) -> ! {
    eprintln!("pause_loop: {what}\n{USAGE}");
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 2 {
        bad_arguments("too many arguments");
    }
    let n: u64 = match args.first() {
        None => 1_000_000,
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| bad_arguments(&format!("N must be a whole number, not {a:?}"))),
    };
    let secs: f64 = match args.get(1) {
        None => 0.0,
        Some(a) => match a.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => s,
            _ => bad_arguments(&format!(
                "S must be a finite number of seconds, 0 or more, not {a:?}"
            )),
        },
    };
    let done = main::run(pauses(n, 0)).expect("the pause loop");
    // `sleep_secs`, not `Duration::from_secs_f64`: a finite S can still be too long for a
    // `Duration` (1e30), which `sleep_secs` clamps to `unix::FOREVER` instead of panicking.
    main::run(unix::sleep_secs(secs)).expect("the sleep");
    println!("{done} pauses, then slept {secs} s");
}
