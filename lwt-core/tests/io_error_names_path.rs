//! The errors of a descriptor opened by path name the path (found by a dogfood, rev44: a read
//! of a directory said only "Is a directory (os error 21)", and a program with several files
//! open could not tell which one it was about). Descriptors made otherwise keep the system's
//! message as it is.

use std::io::ErrorKind;

use lwt_core::{io, main, unix, Exn};

fn io_error(e: &Exn) -> &std::io::Error {
    e.downcast_ref::<std::io::Error>()
        .expect("an io::Error rejection")
}

#[test]
fn reading_a_directory_names_it() {
    let dir = std::env::temp_dir();
    let e = main::run(io::with_file(&dir, io::Input, |ic| ic.read_line())).unwrap_err();
    assert_eq!(io_error(&e).kind(), ErrorKind::IsADirectory);
    assert_eq!(
        e.to_string(),
        format!("{}: Is a directory (os error 21)", dir.display())
    );
}

#[test]
fn lines_of_a_directory_name_it() {
    let dir = std::env::temp_dir();
    let e = main::run(io::lines_of_file(&dir).to_list()).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{}: ", dir.display())),
        "{e}"
    );
}

#[test]
fn a_failed_write_names_the_device() {
    // /dev/full: every write fails with ENOSPC. A device, so a pollable descriptor.
    let e = main::run(io::with_file("/dev/full", io::Output, |oc| {
        oc.write("x").bind(move |()| oc.flush())
    }))
    .unwrap_err();
    assert_eq!(io_error(&e).kind(), ErrorKind::StorageFull);
    assert!(e.to_string().starts_with("/dev/full: "), "{e}");
}

#[test]
fn a_failed_write_to_a_regular_file_names_it() {
    // A file opened for reading only: its writes fail with EBADF.
    let path = std::env::temp_dir().join(format!("lwt-named-{}", std::process::id()));
    std::fs::write(&path, "x").unwrap();
    let fd = main::run(unix::open_file(
        &path,
        std::fs::OpenOptions::new().read(true).clone(),
    ))
    .unwrap();
    let e = main::run(fd.write(b"y".to_vec())).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        e.to_string(),
        format!("{}: Bad file descriptor (os error 9)", path.display())
    );
    assert!(format!("{fd:?}").contains(&path.display().to_string()));
}

#[test]
fn a_descriptor_closed_under_its_channel_names_the_file() {
    let path = std::env::temp_dir().join(format!("lwt-named-closed-{}", std::process::id()));
    std::fs::write(&path, "x").unwrap();
    let fd = main::run(unix::open_file(
        &path,
        std::fs::OpenOptions::new().read(true).clone(),
    ))
    .unwrap();
    fd.close().unwrap();
    let e = main::run(fd.read(4)).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(io_error(&e).kind(), ErrorKind::NotConnected);
    assert!(
        e.to_string().starts_with(&format!("{}: ", path.display())),
        "{e}"
    );
}

#[test]
fn a_pipe_keeps_the_system_message() {
    let (r, w) = unix::pipe().unwrap();
    drop(r);
    let e = main::run(w.write(b"lost".to_vec())).unwrap_err();
    assert_eq!(io_error(&e).kind(), ErrorKind::BrokenPipe);
    assert_eq!(e.to_string(), "Broken pipe (os error 32)");
}

/// Found by review (rev55): a read still waiting when the descriptor is closed was rejected
/// without the path.
#[test]
fn a_read_waiting_when_its_fifo_is_closed_names_it() {
    let path = std::env::temp_dir().join(format!("lwt-named-fifo-{}", std::process::id()));
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    // Read and write: the open does not wait for a writer, and the read waits for data.
    let options = std::fs::OpenOptions::new().read(true).write(true).clone();
    let fd = main::run(unix::open_file(&path, options)).unwrap();
    let read = fd.read(4);
    assert!(read.is_pending());
    fd.close().unwrap();
    std::fs::remove_file(&path).unwrap();
    let e = read
        .rejection()
        .expect("the waiting read rejected by the close");
    assert_eq!(io_error(&e).kind(), ErrorKind::NotConnected);
    assert!(
        e.to_string().starts_with(&format!("{}: ", path.display())),
        "{e}"
    );
}

/// Each message in `e`'s chain of sources, `e`'s own first, joined as anyhow's `{:#}` does.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Found in review (rev83): a named error printed the OS error in its message and also gave it
/// as its source, so a printer of the chain of causes showed it twice: "127.0.0.1:1: Connection
/// refused (os error 111): Connection refused (os error 111)".
#[test]
fn a_refused_connection_shows_the_os_error_once_in_its_chain() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = main::run(unix::connect_tcp(addr)).unwrap_err();
    let os = std::io::Error::from_raw_os_error(libc::ECONNREFUSED).to_string();
    let io = io_error(&e);
    assert_eq!(io.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(io.to_string(), format!("{addr}: {os}"));
    let boxed: Box<dyn std::error::Error> = e.clone().into();
    for joined in [chain(e.as_error()), chain(io), chain(&*boxed)] {
        assert_eq!(joined.matches(&os).count(), 1, "{joined}");
    }
    let named = unix::NamedError::of(io).expect("the OS error stays inside");
    assert_eq!(named.error().raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn a_unix_bind_in_a_missing_directory_shows_the_os_error_once_in_its_chain() {
    let path = std::env::temp_dir()
        .join(format!("lwt-missing-{}", std::process::id()))
        .join("sock");
    let e = unix::Listener::bind_unix(&path).unwrap_err();
    let os = std::io::Error::from_raw_os_error(libc::ENOENT).to_string();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), format!("{}: {os}", path.display()));
    let joined = chain(&e);
    assert_eq!(joined.matches(&os).count(), 1, "{joined}");
    let snapshot = lwt_core::Exn::new(e).snapshot();
    assert_eq!(snapshot.raw_os_error(), Some(libc::ENOENT));
}
