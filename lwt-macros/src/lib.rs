//! The `lwt!` macro (work in progress).
use proc_macro::TokenStream;

/// Placeholder until the macro lands.
#[proc_macro]
pub fn lwt(input: TokenStream) -> TokenStream {
    input
}
