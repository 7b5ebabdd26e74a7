//! Found in review (rev128): a server reports its errors (a handler's, a close's, an accept's)
//! from inside its callbacks, and a panic of the async exception hook there (a test's hook, say)
//! unwound out of the callback and became a rejection that nobody sees. For a connection, the
//! close was skipped, the hook was given its own panic, and the connection was never counted as
//! served, so `drained` never resolved; for an accept, the accept loop was over and the server
//! stopped accepting, silently. The panic reached nobody. It now goes on to the caller of the
//! loop, as a hook's panic in any callback does (see `hook`), once the server has done its
//! bookkeeping: the connection closed and counted, the accept tried again.
//!
//! One test function: it lowers this process's limit on open descriptors (to make `accept`
//! fail), which tests running beside it in other threads would feel.

use std::cell::Cell;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use lwt_core::io::{self, OutputChannel};
use lwt_core::{hook, main, Promise};

#[path = "support/escaped.rs"]
mod escaped;

use escaped::{closed_and_drained, turn_until, with_descriptors_left};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn a_panicking_hook_reaches_the_caller_and_the_server_goes_on() {
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));

    // A failed handler: its connection is still closed and counted as served.
    let server = main::run(io::establish_server(loopback(), |_, _ic, _oc| {
        Promise::<()>::fail_with("handler broke")
    }))
    .unwrap();
    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let escaped = turn_until("the handler's failure", |e| !e.is_empty());
    assert_eq!(escaped.len(), 1, "{escaped:?}");
    assert!(escaped[0].contains("handler broke"), "{escaped:?}");
    closed_and_drained(&server, client);

    // A failed accept: the server tries again, and accepts once it can.
    let served = Rc::new(Cell::new(0));
    let s = served.clone();
    let server = main::run(io::establish_server(
        loopback(),
        move |_, _ic, oc: OutputChannel| {
            s.set(s.get() + 1);
            oc.write_line("hi")
        },
    ))
    .unwrap();
    let mut client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let escaped =
        with_descriptors_left(0, || turn_until("the accept's failure", |e| !e.is_empty()));
    assert!(escaped[0].contains("open files"), "{escaped:?}");
    assert_eq!(served.get(), 0);
    turn_until("the accept tried again", |_| served.get() == 1);
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hi\n");
    main::run(server.shutdown()).unwrap();
    main::run(server.drained()).unwrap();

    hook::restore_async_exception_hook(previous);
}
