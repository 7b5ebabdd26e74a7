//! The proc macro behind `lwt::lwt!`: lwt_ppx's `let%lwt`, `match%lwt`, `try%lwt`, `if%lwt`,
//! `for%lwt`, `while%lwt`, `assert%lwt` and `[%finally]` for Rust.
//!
//! Use it through the `lwt` crate, as `lwt::lwt! { .. }`: the facade's `lwt!` is a
//! `macro_rules!` wrapper that hands this macro the path of the runtime (`$crate`), so that
//! expansions keep working when the user renames the `lwt` dependency or re-exports it. The
//! grammar, form by form, with each form's OCaml counterpart and expansion, is in the facade's
//! documentation of `lwt!` and in `docs/lwt-macro.md`.
//!
//! Layout: `parse` builds the tree of `ast` (reporting every mistake it finds, and `check`
//! rejects `return`, Rust's `break`, `?` and `.await`; `ocaml` names the OCaml operator that
//! made a statement fail to parse); `jumps` places the macro's `break` and
//! `continue` statements; `captures` rejects assignments that a form's closure would lose;
//! `expand` turns the tree into calls to `lwt::control`.

mod ast;
mod captures;
mod check;
mod expand;
mod jumps;
mod ocaml;
mod parse;

use proc_macro::TokenStream;
use proc_macro2::{Delimiter, TokenTree};

/// The implementation of `lwt::lwt!`; not meant to be called directly.
///
/// Input: `($crate) statements...`, as the facade's `lwt!` passes it.
#[doc(hidden)]
#[proc_macro]
pub fn lwt_impl(input: TokenStream) -> TokenStream {
    let mut tokens = proc_macro2::TokenStream::from(input).into_iter();
    let krate = match tokens.next() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g.stream(),
        _ => {
            return syn::Error::new(
                proc_macro2::Span::call_site(),
                "`lwt_impl!` is the implementation of `lwt::lwt!`: use `lwt::lwt! { .. }`",
            )
            .to_compile_error()
            .into()
        }
    };
    let input: proc_macro2::TokenStream = tokens.collect();
    let mut errors = Vec::new();
    let mut block = parse::parse_top(input.clone(), &mut errors);
    // Without parse errors the tree is whole: after lost assignments (which assign to a copy)
    // and misplaced jumps (which `jumps::check` takes out as it reports them), its expansion
    // type-checks, so the fallback can keep the block's names in use: see `expand::fallback`.
    // After parse errors, only the statements before the first one in error can be kept.
    let whole = errors.is_empty();
    jumps::check(&mut block, &mut errors);
    captures::check(&block, &mut errors);
    if errors.is_empty() {
        expand::top(&krate, &block).into()
    } else if whole {
        expand::fallback(&krate, errors, Some(&block)).into()
    } else {
        let mut kept = parse::intact_prefix(input);
        if let Some(kept) = &mut kept {
            // Its misplaced jumps were reported with the whole tree's: only taken out here.
            jumps::check(kept, &mut Vec::new());
        }
        expand::fallback(&krate, errors, kept.as_ref()).into()
    }
}
