//! Found in review (rev129): a server's report of an error met at once, in code that runs
//! outside the loop (a callback run in place, at the server's start: `establish_server` called
//! from the program's own code, the first `accept` failing with `EMFILE`), let a panic of the
//! async exception hook go on at once (`schedule::resume_later` ran its job in place, outside
//! the loop), out of the accept loop's callback: the accept loop became a rejected promise that
//! nobody sees, and the server never accepted, silently, as before rev128's fix. The panic now
//! waits for the loop, as a queued job, and the server tries the accept again.
//!
//! One test function: it lowers this process's limit on open descriptors (to make `accept`
//! fail), which tests running beside it in other threads would feel.

use std::cell::Cell;
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use lwt_core::io::{self, OutputChannel};
use lwt_core::{hook, main, unix};

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn an_accept_failing_at_the_servers_start_with_a_panicking_hook() {
    // The reactor's own descriptors are made before the limit is lowered.
    main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
    let served = Rc::new(Cell::new(0));
    let s = served.clone();

    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) },
        0
    );
    let lowest_free = {
        use std::os::fd::AsRawFd;
        let probe = std::fs::File::open("/dev/null").unwrap();
        probe.as_raw_fd() as libc::rlim_t
    };
    // Room for the listening socket, none for an accepted connection.
    let low = libc::rlimit {
        rlim_cur: lowest_free + 1,
        rlim_max: saved.rlim_max,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let made = catch_unwind(AssertUnwindSafe(|| {
        io::establish_server(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
            move |_, _ic, oc: OutputChannel| {
                s.set(s.get() + 1);
                oc.write_line("hi")
            },
        )
    }));
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
    let mut escaped: Vec<String> = Vec::new();
    let server = match made {
        Ok(server) => main::run(server).unwrap(),
        Err(payload) => panic!("establish_server panicked: {}", message(&*payload)),
    };

    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let start = Instant::now();
    while served.get() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the server never accepted (panics that reached the caller: {escaped:?})"
        );
        let run = catch_unwind(AssertUnwindSafe(|| {
            main::run(unix::sleep(Duration::from_millis(1))).unwrap()
        }));
        if let Err(payload) = run {
            escaped.push(message(&*payload));
        }
    }
    assert_eq!(escaped.len(), 1, "{escaped:?}");
    assert!(escaped[0].contains("open files"), "{escaped:?}");
    drop(client);
    hook::restore_async_exception_hook(previous);
    main::run(server.shutdown()).unwrap();
}
