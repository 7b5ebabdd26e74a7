//! A server's `on_error` function is user code run from inside the server's callbacks, as the
//! async exception hook is (see `server_hook_panic.rs`): when it panics, its panic goes to the
//! hook, and when the hook panics too, that panic goes on to the caller of the loop. Either way
//! the server first does its bookkeeping: the failed connection is closed and counted as served,
//! so that `drained` resolves.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use lwt_core::io::{self, ServerConfig};
use lwt_core::{hook, main, Promise};

#[path = "support/escaped.rs"]
mod escaped;

use escaped::{closed_and_drained, turn_until};

/// A server on loopback whose every handler fails, with an `on_error` that panics; a client
/// connected to it, with a read timeout.
fn failing_server() -> (io::Server, TcpStream) {
    let config = ServerConfig::new().on_error(|e| panic!("on_error: {e}"));
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = main::run(io::establish_server_with(
        loopback,
        config,
        |_, _ic, _oc| Promise::<()>::fail_with("handler broke"),
    ))
    .unwrap();
    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (server, client)
}

#[test]
fn a_panicking_on_error_goes_to_the_hook_and_the_connection_is_closed() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let previous = hook::set_async_exception_hook(move |e| s.borrow_mut().push(e.to_string()));

    let (server, client) = failing_server();
    let escaped = turn_until("the hook's call", |_| !seen.borrow().is_empty());
    assert!(escaped.is_empty(), "{escaped:?}");
    assert_eq!(seen.borrow().len(), 1, "{:?}", seen.borrow());
    assert!(
        seen.borrow()[0].contains("on_error: handler broke"),
        "{:?}",
        seen.borrow()
    );
    closed_and_drained(&server, client);

    hook::restore_async_exception_hook(previous);
}

#[test]
fn a_panicking_on_error_and_hook_reach_the_caller_and_the_connection_is_closed() {
    let previous = hook::set_async_exception_hook(|e| panic!("hook: {e}"));

    let (server, client) = failing_server();
    let escaped = turn_until("the panic's escape", |e| !e.is_empty());
    assert_eq!(escaped.len(), 1, "{escaped:?}");
    assert!(
        escaped[0].contains("hook: ") && escaped[0].contains("on_error: handler broke"),
        "{escaped:?}"
    );
    closed_and_drained(&server, client);

    hook::restore_async_exception_hook(previous);
}
