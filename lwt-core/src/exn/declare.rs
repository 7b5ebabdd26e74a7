//! [`exception!`](crate::exception): OCaml's `exception Name of t` as a one-line declaration.
//!
//! A rejection in this crate is any `std::error::Error`, and a rejection arm of `lwt!` or
//! `catch` matches it by type, so a port of Lwt code needs a type per OCaml exception. Written
//! by hand that is a struct, a `Display` and an `Error` impl; rev87's port of a retry loop found
//! it the heaviest line of the translation. The macro writes the three, and prints the value as
//! `Printexc.to_string` does: its constructor and arguments (`Transient(3)`), through `Debug`.

/// Declares error types the way OCaml declares exceptions: `exception Transient of int` is
/// `exception! { pub Transient(pub u32); }`, `exception Gone` is `exception! { pub Gone; }`,
/// and a record `exception! { pub Http { pub code: u16 } }`. Each is a struct with
/// `#[derive(Debug)]`, a `Display` that prints it as `Debug` does (`Transient(3)`, as OCaml's
/// `Printexc.to_string`), and `std::error::Error`, so it can reject a promise and be matched
/// by type. Attributes and doc comments go before each name (`#[derive(Clone)]` adds to the
/// derive). As with any `#[derive(Debug)]`, rustc calls a field that only the message prints
/// "never read": put `#[allow(dead_code)]` before such a type. No generic parameters.
///
/// ```
/// use lwt_core::{exception, main, Exn, Promise};
///
/// exception! {
///     /// A failure worth retrying; the attempt that failed.
///     pub Transient(pub u32);
///     #[derive(Clone, PartialEq)]
///     pub Gone;
///     pub Http { pub code: u16 }
/// }
///
/// assert_eq!(Transient(3).to_string(), "Transient(3)");
/// assert_eq!(Gone.to_string(), "Gone");
/// assert_eq!(Http { code: 503 }.to_string(), "Http { code: 503 }");
///
/// let attempt = |n: u32| -> Promise<&'static str> {
///     if n < 3 { Promise::fail(Transient(n)) } else { Promise::ret("done") }
/// };
/// let e: Exn = main::run(attempt(1)).unwrap_err();
/// assert_eq!(e.downcast_ref::<Transient>().map(|t| t.0), Some(1));
/// assert_eq!(main::run(attempt(3)).unwrap(), "done");
/// ```
#[macro_export]
macro_rules! exception {
    () => {};
    ($(#[$meta:meta])* $vis:vis $name:ident $(; $($rest:tt)*)?) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name;
        $crate::__exception_impls!($name);
        $($crate::exception! { $($rest)* })?
    };
    ($(#[$meta:meta])* $vis:vis $name:ident ( $($fields:tt)* ) $(; $($rest:tt)*)?) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name($($fields)*);
        $crate::__exception_impls!($name);
        $($crate::exception! { $($rest)* })?
    };
    ($(#[$meta:meta])* $vis:vis $name:ident { $($fields:tt)* } $(; $($rest:tt)*)?) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $name { $($fields)* }
        $crate::__exception_impls!($name);
        $($crate::exception! { $($rest)* })?
    };
}

/// The `Display` and `Error` impls of an [`exception!`](crate::exception) type.
#[doc(hidden)]
#[macro_export]
macro_rules! __exception_impls {
    ($name:ident) => {
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(self, f)
            }
        }

        impl ::core::error::Error for $name {}
    };
}
