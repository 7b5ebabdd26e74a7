//! The close of a connection after its body or handler is done goes on for as long as the peer
//! takes some of the output at least once a second (`io::net`'s `close_connection`), however long
//! the whole takes: a client that reads slowly gets every byte, after a success as after a
//! failure. (A peer that takes nothing for a second is aborted: `io_net_failure.rs`.)
//!
//! Over a Unix-domain socket, whose kernel buffers are small (about 200 KB), so that most of the
//! reply waits in the channel's buffer while the client reads 64 KB every 100 ms (through a
//! 64 KB buffer: a read takes what one refill brings): 1 MB takes about 1.6 s, more than the
//! one-second grace.

use std::time::Duration;

use lwt_core::io::{self, InputChannel, OutputChannel};
use lwt_core::{main, pick, unix, Promise};

const REPLY: usize = 1 << 20;

/// A handler that starts a reply too big for the socket, stops waiting for it after 100 ms
/// (its bytes go back to the buffer) and ends, normally or with a rejection.
fn reply_then_end(oc: OutputChannel, fail: bool) -> Promise<()> {
    let oc2 = oc.clone();
    let reply = oc.write(vec![b'x'; REPLY]).bind(move |()| oc2.flush());
    let given_up = pick([reply, unix::sleep(Duration::from_millis(100))]);
    given_up.bind(move |()| {
        if fail {
            Promise::fail_with("handler failed")
        } else {
            Promise::ret(())
        }
    })
}

/// Reads to the end, 64 KB every 100 ms; the number of bytes read.
fn read_slowly(ic: InputChannel, total: usize) -> Promise<usize> {
    ic.read(64 << 10).bind(move |chunk| {
        if chunk.is_empty() {
            return Promise::ret(total);
        }
        let total = total + chunk.len();
        unix::sleep(Duration::from_millis(100)).bind(move |()| read_slowly(ic, total))
    })
}

#[test]
fn a_slow_reader_gets_the_whole_reply_whatever_the_handler_ended_with() {
    for fail in [false, true] {
        let path = std::env::temp_dir().join(format!(
            "lwt-close-progress-{}-{fail}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let config = io::ServerConfig::new().on_error(|_| {});
        let server = main::run(io::establish_server_with(
            io::Address::unix(&path),
            config,
            move |_, _ic, oc| reply_then_end(oc, fail),
        ))
        .unwrap();
        let started = std::time::Instant::now();
        let config = io::ChannelConfig::new().buffer_size(64 << 10);
        let got = main::run(io::with_connection_with(
            io::Address::unix(&path),
            config,
            |ic, _oc| read_slowly(ic, 0),
        ))
        .unwrap();
        let took = started.elapsed();
        main::run(server.shutdown()).unwrap();
        assert_eq!(got, REPLY, "handler failed: {fail}, after {took:?}");
        // Otherwise the test proves nothing about a close longer than the grace.
        assert!(
            took > Duration::from_millis(1100),
            "the transfer took only {took:?}"
        );
    }
}
