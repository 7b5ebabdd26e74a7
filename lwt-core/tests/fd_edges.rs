//! `unix::Fd` edge cases a review found: sockets wrapped by `from_owned`, and waits that the
//! reactor had already found ready when their descriptor went away.

use std::net::Shutdown;
use std::time::Duration;

use lwt_core::{io, main, pick, unix, Abandoned};

#[test]
fn shutdown_works_on_a_unix_socket_wrapped_with_from_owned() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = unix::Fd::from_owned(a.into()).unwrap();
    let b = unix::Fd::from_owned(b.into()).unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    assert_eq!(main::run(b.read(4)).unwrap(), b"");
}

#[test]
fn shutdown_works_on_a_tcp_socket_wrapped_with_from_owned() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let c = unix::Fd::from_owned(c.into()).unwrap();
    let s = unix::Fd::from_owned(s.into()).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(main::run(s.read(4)).unwrap(), b"");
}

#[test]
fn shutdown_of_a_descriptor_that_is_not_a_socket_is_an_error() {
    let (r, _w) = std::io::pipe().unwrap();
    let r = unix::Fd::from_owned(r.into()).unwrap();
    let e = r.shutdown(Shutdown::Both).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn closing_the_output_of_channels_over_a_from_owned_socket_ends_the_peer_input() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (_a_in, a_out) = io::socket_channels(unix::Fd::from_owned(a.into()).unwrap());
    let (b_in, _b_out) = io::socket_channels(unix::Fd::from_owned(b.into()).unwrap());
    let a2 = a_out.clone();
    main::run(a_out.write_line("ping").bind(move |()| a2.close())).unwrap();
    assert_eq!(main::run(b_in.read_line()).unwrap(), "ping");
    let next = main::run(pick(vec![
        b_in.read_line_opt().map(|l| format!("{l:?}")),
        unix::sleep(Duration::from_secs(5)).map(|()| "no end of input".to_owned()),
    ]))
    .unwrap();
    assert_eq!(next, "None");
}

/// Lwt 5.6.1 rejects the second wait with `Unix_error(EBADF, "check_descriptor", "")`.
#[test]
fn a_wait_already_found_ready_is_rejected_when_an_earlier_waiter_closes_its_descriptor() {
    let (r, w) = unix::pipe().unwrap();
    let r2 = r.clone();
    let first = r.wait_read().map(move |()| r2.close().unwrap());
    let second = r.wait_read();
    main::run(w.write(b"x".to_vec())).unwrap();
    main::run(first).unwrap();
    assert!(!r.is_open());
    let e = main::run(second).expect_err("the wait outlived the close of its descriptor");
    let e = e.downcast_ref::<std::io::Error>().expect("an io::Error");
    let again = main::run(r.wait_read()).unwrap_err();
    assert_eq!(
        e.to_string(),
        again.to_string(),
        "the error of a wait made after the close"
    );
}

#[test]
fn a_wait_already_found_ready_is_abandoned_when_an_earlier_waiter_drops_the_last_handle() {
    let (r, w) = unix::pipe().unwrap();
    let first = r.wait_read();
    let second = r.wait_read();
    let first = first.map(move |()| drop(r));
    main::run(w.write(b"x".to_vec())).unwrap();
    main::run(first).unwrap();
    let e = main::run(second).expect_err("the wait outlived its descriptor");
    assert!(e.is::<Abandoned>(), "{e:?}");
}

/// Found in review (rev66, session 36): `read(max)` handed back a vector of `max` bytes'
/// capacity whatever it read, so 20,000 kept ten-byte reads made with `read(65536)` held 890
/// MB (Lwt's program, reading into one buffer, 3 MB). What a read returns now holds about what
/// it read, for a count the thread's scratch buffer serves and for a larger one.
#[test]
fn a_short_read_holds_about_what_it_read() {
    let (r, w) = unix::pipe().unwrap();
    for max in [4096, 65536, 1 << 20] {
        main::run(w.write_all(b"ten bytes!".to_vec())).unwrap();
        let got = main::run(r.read(max)).unwrap();
        assert_eq!(got, b"ten bytes!");
        assert!(
            got.capacity() < 64,
            "read({max}) of 10 bytes holds {} bytes",
            got.capacity()
        );
    }
    // A read that fills its count keeps it all, and the next short one is short again.
    main::run(w.write_all(vec![7; 3000])).unwrap();
    assert_eq!(main::run(r.read(3000)).unwrap(), vec![7; 3000]);
    main::run(w.write_all(b"x".to_vec())).unwrap();
    assert_eq!(main::run(r.read(65536)).unwrap(), b"x");
}
