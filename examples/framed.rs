//! A length-prefixed protocol over TCP: each message is a big-endian `u32` length, then that many
//! bytes (Lwt_io's `BE.write_int32` / `BE.read_int32` and `read_into_exactly`). The server
//! answers each message with its bytes reversed, and drops a client whose frame is too long with
//! `abort`, without reading (or buffering) the oversized body.
//!
//! ```text
//! cargo run --example framed
//! ```

use std::net::SocketAddr;

use lwt::{io, lwt, main, Promise};

/// The longest message the server accepts.
const MAX_FRAME: u32 = 1024;

/// A message refused by the server.
#[derive(Debug)]
struct FrameTooLong(u32);

impl std::fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a frame of {} bytes (at most {MAX_FRAME})", self.0)
    }
}

impl std::error::Error for FrameTooLong {}

fn write_frame(oc: &io::OutputChannel, body: Vec<u8>) -> Promise<()> {
    let len = u32::try_from(body.len()).expect("a frame fits in 4 GiB");
    let oc = oc.clone();
    lwt! {
        oc.write_be(len);
        oc.write(body);
        oc.flush()
    }
}

/// The next frame, or `None` when the peer closed the connection between frames.
fn read_frame(ic: &io::InputChannel) -> Promise<Option<Vec<u8>>> {
    let ic = ic.clone();
    ic.read_be::<u32>().try_bind(
        move |len| {
            if len > MAX_FRAME {
                return Promise::fail(FrameTooLong(len));
            }
            ic.read_exactly(len as usize).map(Some)
        },
        |e| {
            if e.is::<io::EndOfFile>() {
                Promise::ret(None)
            } else {
                Promise::fail(e)
            }
        },
    )
}

/// Serves one client: each frame is answered with its bytes reversed. A frame that is too long
/// ends the connection at once: `abort` closes the socket without reading the body.
fn serve(ic: io::InputChannel, oc: io::OutputChannel) -> Promise<()> {
    let conn = ic.clone();
    read_frame(&ic).try_bind(
        move |frame| match frame {
            None => Promise::ret(()),
            Some(mut body) => {
                body.reverse();
                write_frame(&oc, body).bind(move |()| serve(ic, oc))
            }
        },
        move |e| {
            eprintln!("server: {e}: dropping the client");
            // Either channel's abort closes the whole connection.
            io::abort(&conn)
        },
    )
}

fn client(addr: SocketAddr) -> Promise<()> {
    io::with_connection(addr, |ic, oc| {
        lwt! {
            write_frame(&oc, b"hello".to_vec());
            let reply = read_frame(&ic);
            lwt::printlf!("client: reply {:?}", String::from_utf8_lossy(&reply.unwrap()));
            // A frame header announcing more than the server accepts.
            oc.write_be(MAX_FRAME + 1);
            oc.flush();
            let after = read_frame(&ic);
            lwt::printlf!("client: after the long frame, the server sent {after:?}")
        }
    })
}

fn main() {
    let config = io::ServerConfig::new().on_error(|e| eprintln!("server error: {e}"));
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = main::run(io::establish_server_with(addr, config, |_, ic, oc| {
        serve(ic, oc)
    }))
    .expect("a listening server");
    let addr = server.local_addr().expect("a TCP server");
    if let Err(e) = main::run(client(addr)) {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
    main::run(server.shutdown()).expect("the server stops");
}
