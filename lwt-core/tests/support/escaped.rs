//! Turning the loop while panics of the async exception hook reach its caller, and starving the
//! process of descriptors, for the tests of hook panics in runtime code (signals, servers).

#![allow(dead_code)] // each test binary uses its own part

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use lwt_core::{io, main, pick, unix};

/// The message of a panic's payload (`panic!` with a format or a literal), or "".
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Turns the loop (1 ms at a time) until `done`, 5 s at most: the messages of the panics that
/// reached the caller of `run` meanwhile, which `done` is given.
pub(crate) fn turn_until(what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut escaped = Vec::new();
    let start = Instant::now();
    while !done(&escaped) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: still waiting after 5 s (panics that reached the caller: {escaped:?})"
        );
        let run = catch_unwind(AssertUnwindSafe(|| {
            main::run(unix::sleep(Duration::from_millis(1))).unwrap()
        }));
        if let Err(payload) = run {
            escaped.push(message(&*payload));
        }
    }
    escaped
}

/// Runs `f` with this process limited to the descriptors it has open and `room` more (a new one
/// past them fails with `EMFILE`), then puts the limit back, whether `f` returns or panics.
pub(crate) fn with_descriptors_left<R>(room: u64, f: impl FnOnce() -> R) -> R {
    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) },
        0
    );
    // The lowest free descriptor: every new one would be at least that.
    let lowest_free = {
        use std::os::fd::AsRawFd;
        let probe = std::fs::File::open("/dev/null").unwrap();
        probe.as_raw_fd() as libc::rlim_t
    };
    let low = libc::rlimit {
        rlim_cur: lowest_free + room as libc::rlim_t,
        rlim_max: saved.rlim_max,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let r = catch_unwind(AssertUnwindSafe(f));
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// For a server whose one connection (`client`'s) failed: the loop turned until the server has
/// closed it (no panic reaching the caller meanwhile), the client then reads the end of the
/// stream, and the server, shut down, drains within 5 s.
pub(crate) fn closed_and_drained(server: &io::Server, mut client: std::net::TcpStream) {
    use std::io::Read;
    let escaped = turn_until("the connection's close", |_| {
        server.active_connections() == 0
    });
    assert!(escaped.is_empty(), "{escaped:?}");
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).unwrap(), 0, "closed");
    main::run(server.shutdown()).unwrap();
    let timeout = unix::sleep(Duration::from_secs(5)).map(|()| false);
    let drained = main::run(pick([server.drained().map(|()| true), timeout])).unwrap();
    assert!(drained, "drained() still pending");
}
