//! Edges of the input side of `io`, from session 23's review: line-length limits at every small
//! buffer size, bytes kept after timeouts and cancels, a number cut by the end of input, UTF-8
//! split across fills, the lock handed to a read canceled meanwhile, a timed-out read of the
//! standard input (in a child process), and one defect found: a `set_position` that waited for a
//! read of the standard input still under way, whose channel was closed meanwhile, was fulfilled
//! (or failed with the closed descriptor's error) instead of rejected with `ChannelClosed`.

use std::time::Duration;

use lwt_core::io::{self, EndOfFile, InputChannel, LineTooLong, OutputChannel};
use lwt_core::{main, pick, unix, Exn, Promise};

fn run<T: 'static>(p: Promise<T>) -> Result<T, Exn> {
    main::run(p)
}
fn send(oc: &OutputChannel, data: &[u8]) {
    let oc2 = oc.clone();
    run(oc.write(data).bind(move |()| oc2.flush())).unwrap();
}
fn turn() {
    run(main::pause()).unwrap();
}
fn small(size: usize) -> (InputChannel, OutputChannel) {
    let (r, w) = unix::pipe().unwrap();
    (
        InputChannel::with_buffer_size(r, size),
        OutputChannel::of_fd(w),
    )
}

#[test]
fn lines_at_and_over_the_length_limit_at_every_small_buffer_size() {
    for size in 1..8 {
        for limit in 0..6 {
            let (ic, oc) = small(size);
            ic.set_max_line_length(limit);
            let line: Vec<u8> = std::iter::repeat_n(b'x', limit).collect();
            let mut data = line.clone();
            data.extend_from_slice(b"\r\n");
            data.extend_from_slice(&line);
            data.extend_from_slice(b"\n");
            data.extend_from_slice(&line);
            data.push(b'y');
            data.extend_from_slice(b"\r\n");
            data.extend_from_slice(&line);
            let p = ic.read_line();
            for b in &data {
                send(&oc, &[*b]);
                turn();
            }
            run(oc.close()).unwrap();
            let s = String::from_utf8(line.clone()).unwrap();
            assert_eq!(run(p).unwrap(), s, "size {size} limit {limit}");
            assert_eq!(run(ic.read_line()).unwrap(), s, "size {size} limit {limit}");
            assert!(run(ic.read_line()).unwrap_err().is::<LineTooLong>());
            let rest = run(ic.read_to_end()).unwrap();
            let mut expect = line.clone();
            expect.extend_from_slice(b"y\r\n");
            expect.extend_from_slice(&line);
            assert_eq!(rest, expect);
        }
    }
}

#[test]
fn a_timed_out_read_exactly_larger_than_the_buffer_loses_nothing() {
    let (ic, oc) = small(4);
    let ic2 = ic.clone();
    let p = unix::with_timeout(Duration::from_millis(30), move || ic2.read_exactly(20));
    send(&oc, b"0123456789");
    assert!(run(p).unwrap_err().is::<unix::Timeout>());
    send(&oc, b"abcdefghij");
    run(oc.close()).unwrap();
    assert_eq!(run(ic.read_to_end()).unwrap(), b"0123456789abcdefghij");
}

#[test]
fn a_number_cut_by_the_end_of_input_loses_nothing() {
    let (ic, oc) = small(2);
    send(&oc, &[1, 2, 3]);
    run(oc.close()).unwrap();
    assert!(run(ic.read_be::<u32>()).unwrap_err().is::<EndOfFile>());
    assert_eq!(run(ic.read_be::<u16>()).unwrap(), 0x0102);
    assert_eq!(run(ic.read_byte()).unwrap(), 3);
}

#[test]
fn read_char_gets_characters_split_across_one_byte_fills() {
    for size in 1..6 {
        let (ic, oc) = small(size);
        let p = ic.read_char();
        let q = ic.read_char();
        for b in "😀é".as_bytes() {
            send(&oc, &[*b]);
            turn();
        }
        assert_eq!(run(p).unwrap(), '😀');
        assert_eq!(run(q).unwrap(), 'é');
    }
}

#[test]
fn reads_raced_against_a_timeout_never_panic_nor_hang() {
    let (ic, oc) = small(3);
    for i in 0..20 {
        let ic2 = ic.clone();
        let r = pick(vec![
            ic2.read_line().map(Some),
            unix::sleep(Duration::from_millis(1)).map(|()| None),
        ]);
        if i % 3 == 0 {
            send(&oc, format!("line{i}\n").as_bytes());
        }
        let _ = run(r);
    }
}

/// Two queued `read_line`s; the first one's callback cancels the second as the lock passes to
/// it. With `busy_first`, a `read_exactly(1)` holds the lock first, so that the lines are
/// buffered already when the reads get their turns. The second line is either the canceled
/// read's (it was resumed already) or still in the channel: never lost.
fn queued_read_canceled_as_the_lock_reaches_it(busy_first: bool) {
    let (ic, oc) = small(64);
    let z = busy_first.then(|| ic.read_exactly(1));
    let a = ic.read_line();
    let b = ic.read_line();
    let b2 = b.clone();
    let a2 = a.map(move |l| {
        b2.cancel();
        l
    });
    send(&oc, if busy_first { b"za\nb\n" } else { b"a\nb\n" });
    run(oc.close()).unwrap();
    if let Some(z) = z {
        assert_eq!(run(z).unwrap(), b"z");
    }
    assert_eq!(run(a2).unwrap(), "a");
    let got_b = run(b.clone());
    let rest = run(ic.read_to_end()).unwrap();
    assert!(
        got_b.as_deref() == Ok("b") || rest == b"b\n",
        "b = {got_b:?}, rest = {rest:?}"
    );
}

#[test]
fn a_queued_read_canceled_as_the_lock_reaches_it_keeps_its_line() {
    queued_read_canceled_as_the_lock_reaches_it(false);
}

#[test]
fn a_queued_read_canceled_as_the_lock_reaches_it_keeps_its_buffered_line() {
    queued_read_canceled_as_the_lock_reaches_it(true);
}

fn on_thread<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    outcome.recv_timeout(Duration::from_secs(secs)).ok()
}

#[test]
fn a_read_exactly_canceled_after_a_partial_fill_lets_run_return_and_keeps_its_bytes() {
    let said = on_thread(20, || {
        let (ic, oc) = small(4);
        let ex = ic.read_exactly(10);
        send(&oc, b"01234");
        turn();
        turn();
        assert!(ex.is_pending());
        ex.cancel();
        assert!(
            ex.rejection().map(|e| e.is_canceled()).unwrap_or(false),
            "{:?}",
            ex.state()
        );
        let (never, _r) = lwt_core::wait::<()>();
        let said = match run(never) {
            Ok(()) => "resolved".to_string(),
            Err(e) => e.to_string(),
        };
        send(&oc, b"56789");
        let all = run(ic.read_exactly(10)).unwrap();
        (said, all)
    });
    let (said, all) = said.expect("hung");
    assert!(said.contains("nothing can resolve it"), "{said}");
    assert_eq!(all, b"0123456789");
}

const CHILD: &str = "LWT_INPUT_EDGES_CHILD";

#[test]
fn child() {
    let Ok(scenario) = std::env::var(CHILD) else {
        return;
    };
    let code = match scenario.as_str() {
        "timeout_then_read" => {
            let ic = io::stdin();
            let ic2 = ic.clone();
            let t = unix::with_timeout(Duration::from_millis(100), move || ic2.read_line());
            let first = run(t).map_err(|e| e.to_string());
            let second = run(ic.read_line()).map_err(|e| e.to_string());
            let third = run(ic.read_line()).map_err(|e| e.to_string());
            let end = run(ic.read_line_opt()).map_err(|e| e.to_string());
            println!("MARK {first:?} {second:?} {third:?} {end:?}");
            0
        }
        "timeout_then_set_position" => {
            let ic = io::stdin();
            let ic2 = ic.clone();
            let t = unix::with_timeout(Duration::from_millis(100), move || ic2.read_line());
            let first = run(t).map_err(|e| e.to_string());
            // Waits for the read the timeout gave up, still under way on the thread pool.
            let moved = ic.set_position(0);
            assert!(moved.is_pending());
            run(ic.close()).unwrap();
            let moved = match run(moved) {
                Ok(()) => "fulfilled".to_string(),
                Err(e) if e.is::<io::ChannelClosed>() => "ChannelClosed".to_string(),
                Err(e) => format!("other error: {e}"),
            };
            println!("MARK {first:?} {moved}");
            0
        }
        _ => 2,
    };
    std::process::exit(code);
}

/// How long the parent waits before it writes the child's input (and closes its stdin): well
/// past the child's 100 ms timeout, even with the child slow to start on a loaded machine.
const INPUT_AFTER_MS: u64 = 2000;

fn child_run(scenario: &str, input: &'static [u8], delay_ms: u64) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(delay_ms));
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .filter_map(|l| l.find("MARK").map(|i| l[i..].to_string()))
        .collect::<Vec<_>>()
        .join("\n")
        + &format!(
            " status={:?} stderr={}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
}

#[test]
fn a_timed_out_read_line_on_stdin_loses_no_line() {
    let out = child_run("timeout_then_read", b"one\ntwo\n", INPUT_AFTER_MS);
    eprintln!("{out}");
    assert!(out.contains("Ok(\"one\") Ok(\"two\") Ok(None)"), "{out}");
}

#[test]
fn set_position_closed_while_it_waits_for_a_stdin_read_is_channel_closed() {
    // The standard input is read on the thread pool: a read given up (here by a timeout)
    // goes on, and `set_position` waits for it. The channel is closed meanwhile; Lwt's
    // `set_position`, waiting for the channel's lock, fails with `Channel_closed` then.
    let out = child_run("timeout_then_set_position", b"", INPUT_AFTER_MS);
    assert!(
        out.starts_with("MARK Err(\"timeout\") ChannelClosed"),
        "{out}"
    );
}

/// A documented difference, pinned (Lwt 5.6.1 prints `position=3 buffered=0` here): the part of
/// a line received by a `read_line` still waiting stays buffered until the line is complete.
#[test]
fn a_waiting_read_line_leaves_its_partial_line_buffered() {
    let (ic, oc) = small(64);
    let line = ic.read_line();
    send(&oc, b"abc");
    turn();
    turn();
    assert!(line.is_pending());
    assert_eq!((ic.position(), ic.buffered()), (0, 3));
    send(&oc, b"\nxy");
    assert_eq!(run(line).unwrap(), "abc");
    assert_eq!((ic.position(), ic.buffered()), (4, 2));
}

/// Session 32's dogfood: a grep over a log with a stray non-UTF-8 byte had no way on but `read`.
/// `read_line_bytes` reads such a line, keeps the limit and the terminators of `read_line`, and
/// mixes with it on one channel, at every small buffer size.
#[test]
fn byte_lines_mix_with_text_lines_and_keep_the_limit() {
    for size in 1..8 {
        let (ic, oc) = small(size);
        ic.set_max_line_length(6);
        send(&oc, b"ok\n\xff\xfe bad\r\nnext\ntoo long!\nlast");
        run(oc.close()).unwrap();
        assert_eq!(run(ic.read_line()).unwrap(), "ok");
        assert_eq!(run(ic.read_line_bytes()).unwrap(), b"\xff\xfe bad");
        assert_eq!(run(ic.read_line()).unwrap(), "next");
        let e = run(ic.read_line_bytes()).unwrap_err();
        assert_eq!(
            e.downcast_ref(),
            Some(&LineTooLong { limit: 6 }),
            "size {size}"
        );
        // The long line stayed; read past it.
        assert_eq!(run(ic.read_exactly(10)).unwrap(), b"too long!\n");
        assert_eq!(
            run(ic.read_line_bytes_opt()).unwrap(),
            Some(b"last".to_vec())
        );
        assert_eq!(run(ic.read_line_bytes_opt()).unwrap(), None);
        assert!(run(ic.read_line_bytes()).unwrap_err().is::<EndOfFile>());
    }
}

/// rev78 F1: `read_lines` went on reading a line over the limit, which `read_line` leaves in the
/// channel: a reader skipping errors (`wrap_exn`) got the same `LineTooLong` for ever. The
/// stream now ends there, with the line left for `read`.
#[test]
fn read_lines_ends_at_a_line_over_the_limit() {
    let (ic, oc) = small(3);
    ic.set_max_line_length(4);
    send(&oc, b"ok\ntoo long\nnext\n");
    run(oc.close()).unwrap();
    let got = run(io::read_lines(&ic).wrap_exn().nget(5)).unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), "ok");
    assert!(got[1].as_ref().unwrap_err().is::<LineTooLong>());
    // The line is where `read_line` left it.
    assert_eq!(run(ic.read_exactly(8)).unwrap(), b"too long");
    assert_eq!(run(ic.read_line()).unwrap(), "");
    assert_eq!(run(ic.read_line()).unwrap(), "next");
}

/// rev138: a read that completes when its fill comes in resolves, and its caller's callbacks
/// run, before the lock passes to the next queued read, as a read that finds its data buffered
/// does (and as in Lwt 5.6.1, where this second `read_line` fails with `Channel_closed`). The
/// next read ran first here: it took `b` out of the buffer before the first one's caller
/// closed the channel, and got it after the close.
#[test]
fn a_close_from_a_filled_reads_callback_comes_before_the_next_queued_read() {
    for buffered in [false, true] {
        let (ic, oc) = io::pipe().unwrap();
        if buffered {
            send(&oc, b"a\nb\n");
            turn();
        }
        let closing = ic.clone();
        let first = ic
            .read_line()
            .bind(move |line| closing.close().map(move |()| line));
        let second = ic.read_line();
        if !buffered {
            send(&oc, b"a\nb\n");
        }
        assert_eq!(run(first).unwrap(), "a");
        let e = run(second).unwrap_err();
        assert!(e.is::<io::ChannelClosed>(), "buffered {buffered}: {e}");
    }
}
