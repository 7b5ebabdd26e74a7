//! The process's standard streams are blocking-mode descriptors here (reads and channel writes
//! go through the thread pool), but `O_NONBLOCK` belongs to the open file description, which the
//! process shares with whoever else holds it: a parent may have set it. Found by review
//! (session 24): on such a stream `Fd::write` spun on `EAGAIN` inside the call (the loop's
//! thread frozen: 2.7 s of CPU in 3.2 s), a read of an empty stdin failed with `EAGAIN`, and an
//! `io::stderr()` flush to a full pipe failed with `EAGAIN`. Lwt waits for readiness first in
//! all three ("wrote 1 after 0.30s wall, 0.00s CPU", "read hi", "flushed"); so does this crate
//! now, by polling such a stream from its first `EAGAIN` on. And `wait_read` on a blocking-mode
//! stream resolved at once, even on an empty stdin; it now polls, as Lwt's does.
//!
//! The scenarios point descriptor 0 or 2 at a pipe while they make their `Fd`, so they run one
//! after the other in a single test, each on a thread of its own (`io::stderr()` is a
//! per-thread channel).

use std::sync::mpsc;
use std::time::Duration;

use lwt_core::{both, main, unix};

/// Points the process's descriptor `std` at `fd` while `make` runs, then puts it back.
fn with_std_as<R>(std: i32, fd: i32, make: impl FnOnce() -> R) -> R {
    // SAFETY: plain descriptor calls on descriptors this test owns; `std` is restored before
    // returning.
    unsafe {
        let saved = libc::dup(std);
        assert!(saved >= 0);
        assert_eq!(libc::dup2(fd, std), std);
        let made = make();
        assert_eq!(libc::dup2(saved, std), std);
        libc::close(saved);
        made
    }
}

/// A pipe whose end `nonblocking_end` (0: read, 1: write) is non-blocking: `[read, write]`.
fn pipe_with_nonblocking(nonblocking_end: usize) -> [i32; 2] {
    let mut p = [0; 2];
    // SAFETY: as above.
    unsafe {
        assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
        let flags = libc::fcntl(p[nonblocking_end], libc::F_GETFL);
        libc::fcntl(p[nonblocking_end], libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    p
}

/// Fills a pipe whose write end is non-blocking.
fn fill(write_end: i32) {
    let chunk = [0u8; 4096];
    // SAFETY: as above.
    while unsafe { libc::write(write_end, chunk.as_ptr().cast(), chunk.len()) } > 0 {}
}

/// Reads what is in a pipe, later (in a timer's callback), to make room.
fn drain_later(read_end: i32, ms: u64) -> lwt_core::Promise<()> {
    unix::sleep(Duration::from_millis(ms)).map(move |()| {
        let mut buf = vec![0u8; 1 << 17];
        // SAFETY: as above.
        unsafe { libc::read(read_end, buf.as_mut_ptr().cast(), buf.len()) };
    })
}

fn on_a_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the scenario did not finish in 10 s (a spin or a hang)")
}

fn write_to_a_full_nonblocking_stderr_waits_for_room() {
    let written = on_a_thread(|| {
        let [r, w] = pipe_with_nonblocking(1);
        fill(w);
        let err = with_std_as(2, w, || unix::stderr().unwrap());
        // SAFETY: as above.
        unsafe { libc::close(w) };
        let write = err.write(b"x".to_vec());
        main::run(both(write, drain_later(r, 100)))
            .map(|(n, ())| n)
            .map_err(|e| e.to_string())
    });
    assert_eq!(written, Ok(1));
}

fn read_of_an_empty_nonblocking_stdin_waits_for_data() {
    let got = on_a_thread(|| {
        let [r, w] = pipe_with_nonblocking(0);
        let input = with_std_as(0, r, || unix::stdin().unwrap());
        // SAFETY: as above.
        unsafe { libc::close(r) };
        let read = input.read(16);
        let later = unix::sleep(Duration::from_millis(100)).map(move |()| {
            // SAFETY: as above.
            unsafe { assert_eq!(libc::write(w, b"hi".as_ptr().cast(), 2), 2) };
        });
        let got = main::run(both(read, later))
            .map(|(b, ())| b)
            .map_err(|e| e.to_string());
        let into = input.read_into(vec![0; 4], 1..3);
        // SAFETY: as above.
        unsafe { assert_eq!(libc::write(w, b"yo".as_ptr().cast(), 2), 2) };
        let into = main::run(into).map_err(|e| e.to_string());
        (got, into)
    });
    assert_eq!(got.0, Ok(b"hi".to_vec()));
    assert_eq!(got.1, Ok((vec![0, b'y', b'o', 0], 2)));
}

fn stderr_channel_flush_to_a_full_nonblocking_pipe_waits_for_room() {
    let flushed = on_a_thread(|| {
        let [r, w] = pipe_with_nonblocking(1);
        fill(w);
        let chan = with_std_as(2, w, lwt_core::io::stderr);
        // SAFETY: as above.
        unsafe { libc::close(w) };
        let out = chan.clone();
        let written = chan.write_line("x").bind(move |()| out.flush());
        main::run(both(written, drain_later(r, 100)))
            .map(drop)
            .map_err(|e| e.to_string())
    });
    assert_eq!(flushed, Ok(()));
}

/// Found by the same review: `wait_read` on a blocking-mode stream resolved at once, even on
/// an empty (blocking) stdin pipe. Lwt polls the descriptor ("input within 100 ms: false").
fn wait_read_on_an_empty_stdin_waits_for_input() {
    let (early, late) = on_a_thread(|| {
        let mut p = [0; 2];
        // SAFETY: as above.
        unsafe { assert_eq!(libc::pipe(p.as_mut_ptr()), 0) };
        let [r, w] = p;
        let input = with_std_as(0, r, || unix::stdin().unwrap());
        // SAFETY: as above.
        unsafe { libc::close(r) };
        let early = lwt_core::pick(vec![
            input.wait_read().map(|()| true),
            unix::sleep(Duration::from_millis(100)).map(|()| false),
        ]);
        let early = main::run(early).map_err(|e| e.to_string());
        let waited = input.wait_read();
        let write = unix::sleep(Duration::from_millis(20)).map(move |()| {
            // SAFETY: as above.
            unsafe { assert_eq!(libc::write(w, b"x".as_ptr().cast(), 1), 1) };
        });
        let late = main::run(both(waited, write))
            .map(drop)
            .map_err(|e| e.to_string());
        let read = main::run(input.read(4)).map_err(|e| e.to_string());
        (early, late.and(read))
    });
    assert_eq!(early, Ok(false), "wait_read on an empty stdin resolved");
    assert_eq!(late, Ok(b"x".to_vec()));
}

#[test]
fn standard_streams_found_non_blocking_wait_for_readiness() {
    write_to_a_full_nonblocking_stderr_waits_for_room();
    read_of_an_empty_nonblocking_stdin_waits_for_data();
    stderr_channel_flush_to_a_full_nonblocking_pipe_waits_for_room();
    wait_read_on_an_empty_stdin_waits_for_input();
}
