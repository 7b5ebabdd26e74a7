//! A short read (or write) on a socket shows its kernel buffer drained (or full): the next read
//! (or write) on it waits for the reactor instead of making a system call bound to fail with
//! `EAGAIN`. These tests check that this is done where it is sound and only there, and that no
//! read or write is ever left waiting for data (or room) that is already there: every wait runs
//! under a timeout, so a lost wake-up fails the test instead of hanging it.

use std::time::Duration;

use lwt_core::unix::{self, Fd};
use lwt_core::{main, Promise, State};

/// Runs `p` to its end, failing (not hanging) if it is still pending after ten seconds.
fn within<T: 'static>(p: Promise<T>) -> T {
    main::run(unix::with_timeout(Duration::from_secs(10), move || p))
        .unwrap_or_else(|e| panic!("did not finish: {e}"))
}

/// Writes `data` to `fd`, which must take all of it at once (a few bytes into an empty buffer).
fn send(fd: &Fd, data: &[u8]) {
    assert_eq!(
        fd.write(data.to_vec()).state(),
        State::Fulfilled(data.len())
    );
}

/// A connected pair of TCP sockets on 127.0.0.1, both made by this crate.
fn tcp_pair() -> (Fd, Fd) {
    let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = listener.accept();
    let a = within(unix::connect_tcp(addr));
    let (b, _peer) = within(accepted);
    listener.close().unwrap();
    (a, b)
}

/// `a` registered with the reactor and its last news a short read of "ping".
fn after_a_short_read(a: &Fd, b: &Fd) {
    let first = a.read(64);
    assert!(first.is_pending(), "nothing written yet");
    // The write goes through at once; the read's retry runs on the reactor's event.
    send(b, b"ping");
    assert_eq!(within(first), b"ping", "4 bytes of 64: a short read");
}

#[test]
fn after_a_short_read_on_tcp_the_next_read_waits_for_the_reactor() {
    let (a, b) = tcp_pair();
    after_a_short_read(&a, &b);
    // "pong" is in `a`'s buffer as soon as this write returns (loopback), but the loop has not
    // polled since the short read: the read does not try, and gets it from the next event.
    send(&b, b"pong");
    std::thread::sleep(Duration::from_millis(20));
    let second = a.read(64);
    assert!(second.is_pending(), "a read was tried after a short one");
    assert_eq!(within(second), b"pong");
}

/// Found by review (session 24): a read of zero bytes after a short read took the short cut
/// and waited for the peer to send, which it may never do. The system call returns 0 at once
/// whatever the buffer holds, and Lwt makes it ("zero-byte read after 50 ms: returned 0").
#[test]
fn a_zero_byte_read_after_a_short_read_returns_at_once() {
    let (a, b) = tcp_pair();
    after_a_short_read(&a, &b);
    assert_eq!(a.read(0).state(), State::Fulfilled(Vec::new()));
    let (buf, n) = within(a.read_into(vec![1, 2], 1..1));
    assert_eq!((buf, n), (vec![1, 2], 0));
}

/// The same for a write of zero bytes after a short write (`write`, `write_from`, `write_all`):
/// it waited for room in the send buffer, which never comes while the peer does not read.
#[test]
fn a_zero_byte_write_after_a_short_write_returns_at_once() {
    let (a, _b) = tcp_pair();
    // Far more than a loopback socket's buffers take: a short write, and nobody reads.
    let sent = within(a.write(vec![0; 64 << 20]));
    assert!(sent < 64 << 20, "not a short write");
    assert_eq!(a.write(Vec::new()).state(), State::Fulfilled(0));
    let (buf, n) = within(a.write_from(vec![5], 0..0));
    assert_eq!((buf, n), (vec![5], 0));
    // And `write_all` of nothing (it waited, found in review, session 26).
    assert!(a.write_all(Vec::new()).is_fulfilled());
}

#[test]
fn a_read_that_fills_its_buffer_proves_nothing_and_the_next_read_tries_at_once() {
    let (a, b) = tcp_pair();
    let first = a.read(4);
    assert!(first.is_pending());
    send(&b, b"ping");
    assert_eq!(within(first), b"ping", "4 bytes of 4: not short");
    send(&b, b"pong");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(a.read(4).state(), State::Fulfilled(b"pong".to_vec()));
}

#[test]
fn unix_domain_sockets_never_skip_a_read_a_message_with_descriptors_ends_one_short() {
    let (a, b) = unix::socketpair().unwrap();
    after_a_short_read(&a, &b);
    send(&b, b"pong");
    assert_eq!(a.read(64).state(), State::Fulfilled(b"pong".to_vec()));
}

/// Sends `data` on `fd` as TCP urgent data (`MSG_OOB`).
fn send_urgent(fd: &Fd, data: &[u8]) {
    let raw = fd.raw_fd().expect("open");
    // SAFETY: `raw` is an open socket owned by `fd`, which outlives the call; `data` is a valid
    // buffer of `data.len()` bytes for the duration of the call.
    let sent = unsafe { libc::send(raw, data.as_ptr().cast(), data.len(), libc::MSG_OOB) };
    assert_eq!(
        sent,
        data.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn urgent_data_from_the_peer_does_not_leave_the_data_behind_it_unread() {
    // Found in review: a read stops short at the urgent mark with ordinary data queued behind
    // it, all of it reported in one event; the next read waited for an event that never came.
    // The urgent data is reported (`EPOLLPRI`), and stops the skipping on that socket.
    let (a, b) = tcp_pair();
    let first = a.read(64);
    assert!(first.is_pending(), "registers `a`");
    send(&b, b"abc");
    send_urgent(&b, b"X");
    send(&b, b"def");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(within(first), b"abc", "stops at the urgent mark");
    assert_eq!(
        within(a.read(64)),
        b"def",
        "the urgent byte is skipped, the rest read"
    );
}

/// Found in review (session 32): every descriptor is registered for `EPOLLPRI` (above), and mio
/// counts it as readable, so urgent data alone fulfilled a `wait_read` with nothing to read (a
/// `recv` then fails with `EAGAIN`; on a standard input that is a socket, the pool thread's
/// blocking read started after the wait could no longer be canceled). Lwt 5.6.1's `wait_read`
/// stays pending there. Ordinary data after it is still seen, by waits and reads.
#[test]
fn urgent_data_alone_does_not_fulfill_wait_read() {
    let (a, b) = tcp_pair();
    let waiting = a.wait_read();
    let reading = a.read(64);
    assert!(
        waiting.is_pending() && reading.is_pending(),
        "nothing to read yet"
    );
    send_urgent(&b, b"X");
    std::thread::sleep(Duration::from_millis(20));
    main::run(unix::sleep(Duration::from_millis(200))).unwrap();
    assert!(
        waiting.is_pending(),
        "wait_read was fulfilled by urgent data alone"
    );
    assert!(reading.is_pending());
    send(&b, b"ordinary");
    within(waiting);
    assert_eq!(within(reading), b"ordinary");
}

#[test]
fn files_never_skip_a_read_a_terminal_may_stop_short_with_more_to_give() {
    // A pipe stands for the files here (a terminal gives one line per read): a short read on
    // one is not taken for a drained buffer.
    let (r, w) = unix::pipe().unwrap();
    let first = r.read(64);
    assert!(first.is_pending());
    send(&w, b"ping");
    assert_eq!(within(first), b"ping");
    send(&w, b"pong");
    assert_eq!(r.read(64).state(), State::Fulfilled(b"pong".to_vec()));
}

#[test]
fn end_of_input_after_a_short_read_is_seen() {
    let (a, b) = tcp_pair();
    after_a_short_read(&a, &b);
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(within(a.read(64)), b"");
}

#[test]
fn end_of_input_reported_with_the_last_data_is_seen_after_a_short_read() {
    // Found by `large_transfers_..`: the data and the end of input came in one event; the short
    // read of the data took the buffer for drained, and the next read waited for an event that
    // had come already. A closed input is final: it stops the skipping for good.
    let (a, b) = tcp_pair();
    let first = a.read(64);
    assert!(first.is_pending(), "registers `a`");
    send(&b, b"last");
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(within(first), b"last");
    assert_eq!(within(a.read(64)), b"");
}

#[test]
fn readers_queued_behind_a_short_read_wait_for_the_next_data() {
    let (a, b) = tcp_pair();
    let first = a.read(64);
    let second = a.read(64);
    send(&b, b"one");
    // One event: the first reader's short read drains the buffer, the second goes on waiting.
    assert_eq!(within(first), b"one");
    assert!(second.is_pending());
    send(&b, b"two");
    assert_eq!(within(second), b"two");
}

#[test]
fn read_into_after_a_short_read_gets_the_next_data() {
    let (a, b) = tcp_pair();
    after_a_short_read(&a, &b);
    send(&b, b"pong");
    let (buf, n) = within(a.read_into(vec![0; 16], 2..10));
    assert_eq!(&buf[2..2 + n], b"pong");
}

/// Bytes `0, 1, .. 250, 0, 1, ..`: a pattern whose shifts and losses a sum check would miss.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Reads `fd` in `chunk`-byte reads until end of input.
fn read_all(fd: Fd, chunk: usize, mut got: Vec<u8>) -> Promise<Vec<u8>> {
    fd.read(chunk).bind(move |bytes| {
        if bytes.is_empty() {
            return Promise::ret(got);
        }
        got.extend_from_slice(&bytes);
        read_all(fd, chunk, got)
    })
}

#[test]
fn large_transfers_through_short_writes_and_short_reads_lose_nothing() {
    // 4 MiB is far more than a socket buffer: `write_all` stops short many times and the reads
    // of 64 KiB often do too, so both flags are set and cleared over and over.
    let data = pattern(4 << 20);
    for chunk in [1000, 65536] {
        let (a, b) = tcp_pair();
        let writer = b.clone();
        let sent = b
            .write_all(data.clone())
            .map(move |()| writer.shutdown(std::net::Shutdown::Write).unwrap());
        let got = within(lwt_core::both(sent, read_all(a, chunk, Vec::new()))).1;
        assert_eq!(got.len(), data.len(), "chunks of {chunk}");
        assert!(got == data, "chunks of {chunk}: the bytes differ");
    }
}

#[test]
fn after_a_short_write_on_tcp_the_next_write_waits_for_the_reactor() {
    use std::io::Read;
    // The reader is a plain blocking socket, read without turning the loop: the room it makes
    // is not reported to the loop until its next poll.
    let listener = unix::Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut reader = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = within(listener.accept());
    listener.close().unwrap();
    // Far more than a loopback socket's buffers take (they grow to a few MiB).
    let big = vec![7u8; 32 << 20];
    let mut sink = vec![0u8; big.len()];
    // Fill the output until a write would block: that registers `b` with the reactor.
    let mut sent = 0;
    let blocked = loop {
        let write = b.write_from(big.clone(), 0..big.len());
        match write.state() {
            State::Fulfilled((_, n)) => sent += n,
            State::Pending => break write,
            other => panic!("the write failed: {other:?}"),
        }
    };
    reader.read_exact(&mut sink[..sent]).unwrap();
    // The reactor reports the room; the retry writes what fits of 32 MiB: a short write.
    let (_, n) = within(blocked);
    assert!(
        0 < n && n < big.len(),
        "{n} bytes of {}: not a short write",
        big.len()
    );
    // Room again, made behind the loop's back (the pause lets the acknowledgements reach
    // `b`): the next write does not try, and writes once the reactor reports the room.
    reader.read_exact(&mut sink[..n]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let next = b.write_from(big.clone(), 0..big.len());
    assert!(next.is_pending(), "a write was tried after a short one");
    let (_, n) = within(next);
    assert!(n > 0);
}

/// The reactor's event moves every read waiting on the descriptor to the ready list: the usual
/// lone waiter by itself, several in the order they were made (two paths in `Engine::poll_once`).
#[test]
fn reads_waiting_on_one_descriptor_are_woken_alone_or_together_in_call_order() {
    let (r, w) = unix::pipe().unwrap();
    let lone = r.read(8);
    assert_eq!(lone.state(), State::Pending);
    send(&w, b"x");
    assert_eq!(within(lone), b"x");

    let reads: Vec<Promise<Vec<u8>>> = (0..3).map(|_| r.read(1)).collect();
    assert!(reads.iter().all(|p| p.state() == State::Pending));
    send(&w, b"abc");
    let got = within(lwt_core::all(reads));
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_nothing_waits();
    r.close().unwrap();
    w.close().unwrap();
}

/// With no waiter left on any descriptor, a promise nothing can resolve is reported, not waited
/// for: the loop's count of waiters came back to zero.
fn assert_nothing_waits() {
    let (p, _r) = lwt_core::wait::<()>();
    let e = main::run(p).unwrap_err();
    assert!(e.to_string().contains("nothing can resolve it"), "{e}");
}

/// Reads and writes waiting on one socket at once, several of each: the peer's close reports
/// both directions, and every waiter is woken once, in order within its direction.
#[test]
fn readers_and_writers_waiting_on_one_socket_are_woken_once_each_in_order() {
    use std::cell::RefCell;
    use std::rc::Rc;
    for (readers, writers) in [
        (1, 1),
        (1, 2),
        (2, 1),
        (3, 3),
        (1, 0),
        (0, 1),
        (2, 0),
        (0, 3),
    ] {
        let (a, b) = unix::socketpair().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        // A wait that logs its wake-up (a rejection counts: the peer's close may fail a write).
        let logged = |wait: Promise<()>, kind: &'static str, i: usize| {
            let log = log.clone();
            wait.catch(|_| Promise::ret(()))
                .map(move |()| log.borrow_mut().push((kind, i)))
        };
        let mut waits: Vec<Promise<()>> = Vec::new();
        if writers > 0 {
            // Fill the send buffer until a write has to wait.
            let first = (0..10_000)
                .map(|_| a.write(vec![0; 1 << 16]))
                .find(|p| p.state() == State::Pending)
                .expect("the socket's buffer fills up");
            waits.push(logged(first.map(|_| ()), "write", 0));
        }
        let more_writes = (1..writers).map(|i| (a.wait_write(), "write", i));
        let reads = (0..readers).map(|i| (a.wait_read(), "read", i));
        for (wait, kind, i) in more_writes.chain(reads) {
            assert_eq!(wait.state(), State::Pending);
            waits.push(logged(wait, kind, i));
        }
        b.close().unwrap();
        within(lwt_core::join(waits));
        let got = log.borrow().clone();
        let order =
            |kind| -> Vec<usize> { got.iter().filter(|e| e.0 == kind).map(|e| e.1).collect() };
        assert_eq!(got.len(), readers + writers, "{got:?}");
        assert_eq!(order("read"), (0..readers).collect::<Vec<_>>(), "{got:?}");
        assert_eq!(order("write"), (0..writers).collect::<Vec<_>>(), "{got:?}");
        assert_nothing_waits();
        a.close().unwrap();
    }
}

/// Found in review (session 20): the reactor is edge-triggered, and `wait_read` filed a waiter
/// without looking, so on a descriptor whose data had already been reported it waited for the
/// next arrival, for ever if none came. Lwt's `wait_read` polls first (its engine is
/// level-triggered): readable now is fulfilled at once.
#[test]
fn wait_read_on_a_descriptor_with_unread_data_is_fulfilled_at_once() {
    let (r, w) = unix::pipe().unwrap();
    let first = r.wait_read();
    assert!(first.is_pending(), "nothing written yet");
    send(&w, b"xy");
    within(first);
    assert_eq!(within(r.read(1)), b"x");
    assert_eq!(
        r.wait_read().state(),
        State::Fulfilled(()),
        "\"y\" is still there"
    );
    assert_eq!(within(r.read(10)), b"y");
    let again = r.wait_read();
    assert!(again.is_pending(), "drained: waits for the next data");
    send(&w, b"z");
    within(again);
    drop(w);
    assert_eq!(within(r.read(10)), b"z");
    // The writer is gone: the end of input is there to read, so the wait is over at once.
    assert_eq!(r.wait_read().state(), State::Fulfilled(()));
    assert_eq!(within(r.read(10)), b"");
}

/// The same for `wait_write`: a pipe with room is writable every time it is asked, not only
/// the first time (whose event the first wait took).
#[test]
fn wait_write_on_a_descriptor_with_room_is_fulfilled_every_time() {
    let (r, w) = unix::pipe().unwrap();
    within(w.wait_write());
    assert_eq!(w.wait_write().state(), State::Fulfilled(()));
    assert_eq!(w.wait_write().state(), State::Fulfilled(()));
    drop(r);
}

/// Lwt's `wait_read fd >>= fun () -> read fd` loop, on a TCP socket whose data comes in one
/// event and is read in pieces: every wait after the first finds data already there.
#[test]
fn a_wait_read_then_read_loop_on_tcp_sees_every_chunk() {
    let (a, b) = tcp_pair();
    send(&b, b"abcdef");
    let mut got = Vec::new();
    while got.len() < 6 {
        within(a.wait_read());
        got.extend(within(a.read(2)));
    }
    assert_eq!(got, b"abcdef");
}

/// Reads `n` chunks of 4 bytes from `fd`, one after the other, logging each as `name:chunk`.
fn read_chunks(
    fd: Fd,
    name: &'static str,
    n: u32,
    log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
) -> Promise<()> {
    if n == 0 {
        return Promise::ret(());
    }
    fd.read(4).bind(move |got| {
        log.borrow_mut()
            .push(format!("{name}:{}", String::from_utf8_lossy(&got)));
        read_chunks(fd, name, n - 1, log)
    })
}

/// Found by review (session 24): an event wakes every reader waiting on a descriptor; a reader
/// whose try then met `EAGAIN` was filed again at the end of the list, behind the read that the
/// reader woken before it had started meanwhile, so a reader looping on the descriptor went
/// first at every event and starved the other (`A:1111 A:2222 A:3333 B:4444`). Lwt's waiter keeps
/// its place: `A:1111 B:2222 A:3333 A:4444`.
#[test]
fn readers_woken_together_keep_their_places_against_reads_started_since() {
    let (r, w) = unix::pipe().unwrap();
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let a = read_chunks(r.clone(), "A", 3, log.clone());
    let b = read_chunks(r, "B", 1, log.clone());
    let mut writer = Promise::ret(());
    for chunk in ["1111", "2222", "3333", "4444"] {
        let w = w.clone();
        writer = writer
            .bind(|()| unix::sleep(Duration::from_millis(5)))
            .bind(move |()| w.write_all(chunk.as_bytes().to_vec()));
    }
    within(lwt_core::join(vec![a, b, writer]));
    assert_eq!(*log.borrow(), ["A:1111", "B:2222", "A:3333", "A:4444"]);
}
