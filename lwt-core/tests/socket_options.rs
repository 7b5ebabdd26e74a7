//! Socket options on an [`Fd`]: `TCP_NODELAY`, `SO_LINGER`, `SO_KEEPALIVE` read back what was
//! set, and fail clearly on a descriptor that is not a socket or is closed.

use std::io::ErrorKind;
use std::time::Duration;

use lwt_core::unix::{self, Fd, NamedError};
use lwt_core::{both, main};

/// Both ends of a TCP connection on loopback: (client, server).
fn tcp_pair() -> (Fd, Fd) {
    let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, (server, _peer)) =
        main::run(both(unix::connect_tcp(addr), listener.accept())).unwrap();
    (client, server)
}

#[test]
fn options_set_on_a_tcp_socket_read_back() {
    let (client, server) = tcp_pair();
    for on in [true, false, true] {
        client.set_nodelay(on).unwrap();
        assert_eq!(client.nodelay().unwrap(), on);
        client.set_keepalive(on).unwrap();
        assert_eq!(client.keepalive().unwrap(), on);
    }
    // The other end is untouched.
    assert!(!server.nodelay().unwrap());
    assert!(!server.keepalive().unwrap());

    assert_eq!(client.linger().unwrap(), None);
    client.set_linger(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(3)));
    // Whole seconds, rounded up.
    client.set_linger(Some(Duration::from_millis(1))).unwrap();
    assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(1)));
    client.set_linger(None).unwrap();
    assert_eq!(client.linger().unwrap(), None);
}

#[test]
fn a_zero_linger_resets_the_connection_on_close() {
    let (client, server) = tcp_pair();
    client.set_linger(Some(Duration::ZERO)).unwrap();
    client.close().unwrap();
    let e = main::run(server.read(4)).unwrap_err();
    let e = e.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
}

#[test]
fn a_pipe_is_refused_naming_the_option() {
    let (r, _w) = unix::pipe().unwrap();
    let errors = [
        ("set_nodelay", r.set_nodelay(true).unwrap_err()),
        ("nodelay", r.nodelay().unwrap_err()),
        ("set_linger", r.set_linger(None).unwrap_err()),
        ("linger", r.linger().unwrap_err()),
        ("set_keepalive", r.set_keepalive(true).unwrap_err()),
        ("keepalive", r.keepalive().unwrap_err()),
    ];
    let os = std::io::Error::from_raw_os_error(libc::ENOTSOCK);
    for (method, e) in errors {
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(e.to_string(), format!("{method}: {os}"));
        let named = NamedError::of(&e).expect("the OS error inside");
        assert_eq!(named.error().raw_os_error(), Some(libc::ENOTSOCK));
    }
}

#[test]
fn nodelay_on_a_unix_socket_is_unsupported() {
    let (a, _b) = unix::socketpair().unwrap();
    let e = a.set_nodelay(true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().starts_with("set_nodelay: "), "{e}");
}

#[test]
fn a_closed_socket_fails_as_its_other_operations_do() {
    let (client, _server) = tcp_pair();
    client.close().unwrap();
    let shutdown = client.shutdown(std::net::Shutdown::Both).unwrap_err();
    let errors = [
        client.set_nodelay(true).unwrap_err(),
        client.nodelay().unwrap_err(),
        client.set_linger(None).unwrap_err(),
        client.linger().unwrap_err(),
        client.set_keepalive(true).unwrap_err(),
        client.keepalive().unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        assert_eq!(e.to_string(), shutdown.to_string());
        assert_eq!(e.to_string(), "the file descriptor is closed");
    }
}
