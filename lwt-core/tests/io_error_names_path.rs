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
