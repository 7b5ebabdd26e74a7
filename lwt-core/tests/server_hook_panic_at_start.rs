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
use std::rc::Rc;
use std::time::Duration;

use lwt_core::io::{self, OutputChannel};
use lwt_core::{hook, main, unix};

#[path = "support/escaped.rs"]
mod escaped;

use escaped::{turn_until, with_descriptors_left};

#[test]
fn an_accept_failing_at_the_servers_start_with_a_panicking_hook() {
    // The reactor's own descriptors are made before the limit is lowered.
    main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));
    let served = Rc::new(Cell::new(0));
    let s = served.clone();

    // Room for the listening socket, none for an accepted connection. (A panic out of
    // `establish_server` goes on, once the limit is back.)
    let made = with_descriptors_left(1, || {
        io::establish_server(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
            move |_, _ic, oc: OutputChannel| {
                s.set(s.get() + 1);
                oc.write_line("hi")
            },
        )
    });
    let server = main::run(made).unwrap();

    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let escaped = turn_until("the server never accepted", |_| served.get() > 0);
    assert_eq!(escaped.len(), 1, "{escaped:?}");
    assert!(escaped[0].contains("open files"), "{escaped:?}");
    drop(client);
    hook::restore_async_exception_hook(previous);
    main::run(server.shutdown()).unwrap();
}
