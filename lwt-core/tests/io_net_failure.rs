//! Found in review (session 25): the close after a failed `with_connection` body or server
//! handler waited for ever for a peer that does not read. A write canceled by a timeout puts its
//! bytes back in the output buffer, and the implicit close flushed them: `with_connection` stayed
//! pending although its body was rejected, and a server's connection stayed open (nothing can
//! cancel that close), so `drained` never resolved. Lwt 5.6.1 closes the socket at once there
//! (`with_connection: rejected: Failure("timeout") after 0.3 s; fds before 9, after 9`). The
//! close now waits at most a second for the peer to take the output, then closes the socket.
//! `io::with_file` had the same defect on a FIFO whose reader does not read.
//!
//! Found in review again (session 31): the close after a *successful* body or handler had the
//! same defect. A handler that gives up on a client that does not read and returns normally
//! left the connection open for as long as the client lived (still open after 2 s, where Lwt's
//! is closed within the second). A connection's close now goes on while the peer takes some of
//! the output at least once a second, and aborts otherwise, after a success as after a failure
//! (`io_close_progress.rs` checks that a peer that reads slowly still gets all of it).
//!
//! One test function: it counts this process's descriptors, which tests running beside it in
//! other threads would change.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::rc::Rc;
use std::time::Duration;

use lwt_core::io::{self, OutputChannel};
use lwt_core::{main, pick, unix, Exn, Promise};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Open descriptors, once the loop's own (the reactor, its waker) exist.
fn open_fds() -> usize {
    main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `p`'s outcome, or `None` if it is still pending after `secs`.
fn within<T: 'static>(p: Promise<T>, secs: u64) -> Option<Result<T, Exn>> {
    let outcome = p.try_bind(
        |v| Promise::ret(Some(Ok(v))),
        |e| Promise::ret(Some(Err(e))),
    );
    let timeout = unix::sleep(Duration::from_secs(secs)).map(|()| None);
    main::run(pick([outcome, timeout])).unwrap()
}

/// Writes more than any socket buffer holds, giving up after 300 ms.
fn write_too_much_for(oc: OutputChannel) -> Promise<()> {
    let oc2 = oc.clone();
    let big = oc.write(vec![b'x'; 16_000_000]).bind(move |()| oc2.flush());
    let timeout = unix::sleep(Duration::from_millis(300)).bind(|()| Promise::fail_with("timeout"));
    pick([big, timeout])
}

/// The same, but giving up is not a failure: the body returns normally.
fn try_to_write_too_much_for(oc: OutputChannel) -> Promise<()> {
    let oc2 = oc.clone();
    let big = oc.write(vec![b'x'; 16_000_000]).bind(move |()| oc2.flush());
    pick([big, unix::sleep(Duration::from_millis(300))])
}

/// Serves one client that never reads with `handler`, shuts the server down, and waits (5 s at
/// most) for the connection to be closed: the errors the server reported.
fn serve_a_client_that_never_reads(handler: fn(OutputChannel) -> Promise<()>) -> Vec<String> {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e2 = errors.clone();
    let config = io::ServerConfig::new().on_error(move |e| e2.borrow_mut().push(e.to_string()));
    let server = main::run(io::establish_server_with(
        loopback(),
        config,
        move |_, _ic, oc| handler(oc),
    ))
    .unwrap();
    let _client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    while server.active_connections() == 0 {
        main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    }
    let drained = server.drained();
    main::run(server.shutdown()).unwrap();
    assert!(
        within(drained, 5).is_some(),
        "the connection was never closed"
    );
    assert_eq!(server.active_connections(), 0);
    errors.take()
}

#[test]
fn a_failed_body_or_handler_does_not_wait_for_ever_on_a_peer_that_does_not_read() {
    // with_connection, against a listener that never accepts, so never reads.
    let peer = TcpListener::bind(loopback()).unwrap();
    let before = open_fds();
    let p = io::with_connection(peer.local_addr().unwrap(), |_ic, oc| write_too_much_for(oc));
    let outcome = within(p, 5).expect("with_connection still pending 5 s after its body failed");
    assert_eq!(outcome.unwrap_err().to_string(), "timeout");
    assert_eq!(open_fds(), before, "the client's socket is closed");

    // A server's handler, against a client that never reads.
    assert_eq!(
        serve_a_client_that_never_reads(write_too_much_for),
        ["timeout"]
    );

    // The same two after a success: the body or handler gave up and returned normally.
    let before = open_fds();
    let p = io::with_connection(peer.local_addr().unwrap(), |_ic, oc| {
        try_to_write_too_much_for(oc).map(|()| "gave up")
    });
    let outcome = within(p, 5).expect("with_connection still pending 5 s after its body ended");
    assert_eq!(outcome.unwrap(), "gave up");
    assert_eq!(open_fds(), before, "the client's socket is closed");
    let errors = serve_a_client_that_never_reads(try_to_write_too_much_for);
    assert!(errors.is_empty(), "{errors:?}");

    // Found in review (session 31): `with_connection` canceled during that close (a timeout
    // around it) left the close going on, unwatched, and the socket open for as long as the
    // peer lived. The cancel now aborts the connection.
    let before = open_fds();
    let p = io::with_connection(peer.local_addr().unwrap(), |_ic, oc| {
        try_to_write_too_much_for(oc)
    });
    main::run(unix::sleep(Duration::from_millis(500))).unwrap();
    assert!(p.is_pending(), "closing: the peer does not read");
    p.cancel();
    assert!(p.rejection().is_some_and(|e| e.is_canceled()));
    assert_eq!(
        open_fds(),
        before,
        "the client's socket is closed at the cancel"
    );

    // A peer that reads still gets what the failed body left buffered.
    let got = Rc::new(RefCell::new(Vec::new()));
    let g2 = got.clone();
    let server = main::run(io::establish_server(loopback(), move |_, ic, _oc| {
        let g3 = g2.clone();
        ic.read_to_end().map(move |bytes| *g3.borrow_mut() = bytes)
    }))
    .unwrap();
    let p = io::with_connection(server.local_addr().unwrap(), |_ic, oc| {
        oc.write("unflushed")
            .bind(|()| Promise::<()>::fail_with("body failed"))
    });
    assert_eq!(main::run(p).unwrap_err().to_string(), "body failed");
    while server.connections_accepted() == 0 {
        main::run(unix::sleep(Duration::from_millis(1))).unwrap();
    }
    let drained = server.drained();
    main::run(server.shutdown()).unwrap();
    main::run(drained).unwrap();
    assert_eq!(*got.borrow(), b"unflushed");

    // with_file, on a FIFO whose reader never reads (found in review: the same defect).
    let path = std::env::temp_dir().join(format!("lwt-failure-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    let before = open_fds();
    let p = io::with_file(&path, io::Output, write_too_much_for);
    let outcome = within(p, 5);
    std::fs::remove_file(&path).unwrap();
    let outcome = outcome.expect("with_file still pending 5 s after its body failed");
    assert_eq!(outcome.unwrap_err().to_string(), "timeout");
    assert_eq!(open_fds(), before, "the FIFO's writing end is closed");
    drop(reader);
}
