//! `unix::auto_yield` and `auto_pause` (Lwt_unix's; found missing by review, rev54, session 35:
//! the table of `unix` mapped `auto_yield` to `main::yield_`, which yields at every call, 100,000
//! turns of the loop where Lwt's `auto_yield 0.05` made none in 4 ms).

use std::time::{Duration, Instant};

use lwt_core::{main, unix};

#[test]
fn yields_at_most_once_per_interval() {
    let interval = Duration::from_millis(30);
    let maybe_yield = unix::auto_yield(interval);
    let start = Instant::now();
    let (mut calls, mut yields) = (0_u32, 0_u32);
    while start.elapsed() < Duration::from_millis(100) {
        calls += 1;
        let p = maybe_yield();
        if p.is_pending() {
            yields += 1;
            main::run(p).unwrap();
        }
    }
    let elapsed = start.elapsed();
    // One yield per interval at most (plus one for the rounding of the two clocks' reads).
    let most = (elapsed.as_millis() / interval.as_millis()) as u32 + 1;
    assert!(yields >= 1, "no yield in {elapsed:?} ({calls} calls)");
    assert!(
        yields <= most,
        "{yields} yields in {elapsed:?} ({calls} calls)"
    );
    assert!(calls > yields);
}

#[test]
fn clones_share_the_last_yield() {
    let maybe_pause = unix::auto_pause(Duration::from_millis(300));
    let clone = maybe_pause.clone();
    assert!(maybe_pause().is_fulfilled());
    std::thread::sleep(Duration::from_millis(350));
    let paused = maybe_pause();
    assert!(paused.is_pending());
    // The clone counts from that pause.
    assert!(clone().is_fulfilled());
    main::run(paused).unwrap();
}

#[test]
fn a_zero_interval_yields_every_time_and_a_huge_one_never() {
    let always = unix::auto_yield(Duration::ZERO);
    let never = unix::auto_yield(Duration::MAX);
    for _ in 0..3 {
        let p = always();
        assert!(p.is_pending());
        main::run(p).unwrap();
        assert!(never().is_fulfilled());
    }
}
