//! Lwt_io's formatting printers as macros: [`printf!`](crate::printf), [`printlf!`](crate::printlf),
//! [`eprintf!`](crate::eprintf), [`eprintlf!`](crate::eprintlf), [`fprintf!`](crate::fprintf)
//! and [`fprintlf!`](crate::fprintlf).
//!
//! OCaml's `Lwt_io.printlf "%d lines" n` is a function because OCaml's format strings are typed
//! values. Rust checks a format string only inside a macro (`format!`, `println!`), so the
//! functions ([`io::printf`](super::printf), [`OutputChannel::printf`](super::OutputChannel::printf))
//! take the `format_args!(...)` a macro built, and these macros spare the caller that wrapping,
//! and the `"\n"` of the `l` forms. Each expands to one call of an `io` function that formats
//! the text at once ([`io::printf`](super::printf()), [`io::eprintf`](super::eprintf()),
//! [`OutputChannel::printf`](super::OutputChannel::printf)): the promise it gives is that
//! function's, with the same rules (the standard channels' promises are fulfilled once the text
//! is written out; a channel's once the text is in its buffer). A `Display` that fails or panics
//! rejects that promise, where `format!` would panic: [`InvalidArgument`](crate::InvalidArgument)
//! or [`Panicked`](crate::Panicked).
//!
//! They are exported at the crate's root, as every `#[macro_export]` macro is, and re-exported
//! in `io` next to the functions: `lwt::printlf!` or `lwt::io::printlf!`.

/// Lwt_io's `printf`: formats its arguments as [`format!`](std::format!) does and writes the
/// text on the standard output, with [`io::print`](crate::io::print()); the promise is fulfilled
/// once the text is written out.
///
/// ```
/// let (done, total) = (3, 4);
/// lwt_core::main::run(lwt_core::printf!("{done} of {total}, ")).unwrap();
/// ```
#[macro_export]
macro_rules! printf {
    ($($arg:tt)+) => {
        $crate::io::printf(::std::format_args!($($arg)+))
    };
}

/// Lwt_io's `printlf`: [`printf!`](crate::printf) with a newline after the text (written as
/// [`io::printl`](crate::io::printl) writes a line).
///
/// ```
/// use lwt_core::{io, main};
/// let n = 42;
/// main::run(io::printlf!("{n} lines, {:.1} KiB", 1.25)).unwrap();
/// ```
#[macro_export]
macro_rules! printlf {
    ($($arg:tt)+) => {
        $crate::io::printf(::std::format_args!("{}\n", ::std::format_args!($($arg)+)))
    };
}

/// Lwt_io's `eprintf`: [`printf!`](crate::printf) on the standard error
/// ([`io::eprintf`](crate::io::eprintf())).
///
/// ```
/// lwt_core::main::run(lwt_core::eprintf!("warning {}: ", 7)).unwrap();
/// ```
#[macro_export]
macro_rules! eprintf {
    ($($arg:tt)+) => {
        $crate::io::eprintf(::std::format_args!($($arg)+))
    };
}

/// Lwt_io's `eprintlf`: [`printlf!`](crate::printlf) on the standard error
/// ([`io::eprintf`](crate::io::eprintf()) with a newline after the text).
///
/// ```
/// let path = "/etc/missing";
/// lwt_core::main::run(lwt_core::eprintlf!("cannot open {path:?}")).unwrap();
/// ```
#[macro_export]
macro_rules! eprintlf {
    ($($arg:tt)+) => {
        $crate::io::eprintf(::std::format_args!("{}\n", ::std::format_args!($($arg)+)))
    };
}

/// Lwt_io's `fprintf`: formats its arguments after the first, an
/// [`OutputChannel`](crate::io::OutputChannel) or a reference to one, and writes the text on
/// that channel ([`OutputChannel::printf`](crate::io::OutputChannel::printf)). As with every
/// write, the promise is fulfilled once the text is in the channel's buffer.
///
/// ```
/// use lwt_core::{fprintf, io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// let p = fprintf!(oc, "{}+{}=", 1, 2).bind(move |()| fprintf!(&oc, "{}", 3).bind(move |()| oc.close()));
/// main::run(p).unwrap();
/// assert_eq!(main::run(ic.read_to_end()).unwrap(), b"1+2=3");
/// ```
#[macro_export]
macro_rules! fprintf {
    ($oc:expr, $($arg:tt)+) => {
        // Bound by a `match`, not passed as `&$oc`, so that a reference chosen by an `if` or a
        // `match` is not given `OutputChannel` as its expected type (it is `&OutputChannel`).
        match &$oc {
            oc => $crate::io::OutputChannel::printf(oc, ::std::format_args!($($arg)+)),
        }
    };
}

/// Lwt_io's `fprintlf`: [`fprintf!`](crate::fprintf) with a newline after the text (the bytes
/// [`OutputChannel::write_line`](crate::io::OutputChannel::write_line) writes).
///
/// ```
/// use lwt_core::{fprintlf, io, main};
/// let (ic, oc) = io::pipe().unwrap();
/// let user = "ada";
/// main::run(fprintlf!(oc, "hello, {user}").bind(move |()| oc.close())).unwrap();
/// assert_eq!(main::run(ic.read_line()).unwrap(), "hello, ada");
/// ```
#[macro_export]
macro_rules! fprintlf {
    ($oc:expr, $($arg:tt)+) => {
        match &$oc {
            oc => $crate::io::OutputChannel::printf(
                oc,
                ::std::format_args!("{}\n", ::std::format_args!($($arg)+)),
            ),
        }
    };
}

/// The text of `args`, formatted at once; a `Display` (or other formatting trait) that fails
/// gives an [`InvalidArgument`](crate::InvalidArgument) rejection and one that panics a
/// [`Panicked`](crate::Panicked) one, where [`format!`](std::format!) would panic in the caller.
pub(crate) fn formatted(args: std::fmt::Arguments<'_>) -> Result<String, crate::Exn> {
    let mut text = String::new();
    match crate::stream::drive::call(|| std::fmt::write(&mut text, args)) {
        Ok(Ok(())) => Ok(text),
        Ok(Err(std::fmt::Error)) => Err(crate::Exn::invalid_argument(
            "printf: a formatting trait implementation returned an error",
        )),
        Err(panicked) => Err(panicked),
    }
}
