//! Found in a dogfood (session 29): a server whose handler fails, with no
//! `ServerConfig::on_error` and no async exception hook, ends the process through the default
//! hook (status 2, as Lwt's does), and its message only said "a detached callback". It now says
//! that the failure came from the server (its handler, an accept, a close), and how to keep
//! serving.
//!
//! The process has to exit, so the server runs in a child: this test binary, run again with
//! `LWT_CORE_SERVER_HOOK_CHILD` set.

use std::io::Write;
use std::net::TcpStream;

use lwt_core::{io, main, Promise};

const CHILD: &str = "LWT_CORE_SERVER_HOOK_CHILD";

#[test]
fn a_failing_handler_without_on_error_exits_naming_on_error() {
    const NAME: &str = "a_failing_handler_without_on_error_exits_naming_on_error";
    if std::env::var_os(CHILD).is_some() {
        let addr = "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap();
        let server = main::run(io::establish_server(addr, |_, _ic, _oc| {
            Promise::<()>::fail_with("handler broke")
        }))
        .unwrap();
        let port = server.local_addr().unwrap().port();
        // A client from another thread, so that the loop is free to accept it.
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let _ = c.write_all(b"hello\n");
            std::thread::sleep(std::time::Duration::from_secs(10));
        });
        // Only the default hook ends this.
        let _ = main::run(lwt_core::unix::sleep(std::time::Duration::from_secs(10)));
        println!("@not exited");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("@not exited"), "{stdout}");
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("unhandled error in a server (a connection handler)")
            && stderr.contains("handler broke")
            && stderr.contains("ServerConfig::on_error"),
        "stderr: {stderr}"
    );
}
