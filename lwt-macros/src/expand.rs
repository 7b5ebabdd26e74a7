//! Turning the tree of [`crate::ast`] into Rust: nested calls to `lwt::control`.
//!
//! The expansion of a block starts with `use $crate::control as __lwt;` and then reads like the
//! block: one `__lwt::bind(promise, move |pattern| rest)` per `let`, one `__lwt::seq(promise,
//! move || rest)` per `promise;`, and so on. The `__lwt` of each call carries the span of the
//! user's statement, so the `#[track_caller]` runtime functions record the user's file and line
//! on rejections. A top-level block that starts with a statement ends with
//! `let __block = ..; __block`, spanned at the block's value, where a value of the wrong type
//! is then reported ([`top`]). Names the expansion introduces (`value`, `cond`, `exn`...) have
//! mixed-site hygiene: user code can neither see nor shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::Ident;

use crate::ast::*;

/// The runtime module, named at `span` (so that a call made through it records `span`).
fn rt(span: Span) -> Ident {
    Ident::new("__lwt", span)
}

/// A name only the expansion can see.
fn hygienic(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The whole expansion: the `use` of the runtime, then the block.
pub(crate) fn top(krate: &TokenStream, block: &Block) -> TokenStream {
    let body = block_expr(block);
    let lwt = rt(Span::call_site());
    // A block that starts with a statement is a call (`__lwt::bind(p, move |x| ..)`) spanned
    // at that statement, where rustc would report a block value of the wrong type (a
    // `Promise<i32>` for a function's `Promise<i64>`), however far the value is. Bound to a
    // name that is spanned at the value and then returned, the block is reported there.
    let body = match value_span(block) {
        Some(at) => {
            let block = Ident::new("__block", generated(at));
            quote! {
                let #block = #body;
                #block
            }
        }
        None => body,
    };
    quote! {
        {
            use #krate::control as #lwt;
            #body
        }
    }
}

/// Where the value of a block that starts with a statement is: its tail, or its last
/// statement (`expr;`, a `Promise<()>`). `None` for a block that is its value alone.
fn value_span(block: &Block) -> Option<Span> {
    let code = |s: &&Stmt| !matches!(s, Stmt::Plain(p) if is_item(p));
    let first = block.stmts.iter().position(|s| code(&s))?;
    match block.tail.as_deref() {
        Some(tail) => Some(rest_span(&[], Some(tail))),
        None => {
            let last = block.stmts.iter().rposition(|s| code(&s))?;
            (last > first).then(|| rest_span(&block.stmts[last..], None))
        }
    }
}

/// The fallback expansion after errors: the errors, then the block's value. When the only
/// errors are lost assignments and misplaced jumps (`parsed` is the whole tree, its reported
/// jumps taken out by `jumps::check` as it reports them), the value is the block's own
/// expansion, which type-checks as it would without them (an assignment to a copy is well
/// typed, a misplaced jump that ends its block is a value of any type): the names the block
/// uses are then resolved, so an import only the block uses is not reported unused and a
/// misspelt name is still reported, once. It cannot add errors or warnings of its own: rustc
/// does not borrow-check a body that holds a `compile_error!` (where a copy assigned or moved
/// into a closure would be reported), nor run the lints that come with borrowck (`unused_mut`,
/// `unused_assignments`). It carries no lint attribute: in a `#![forbid(warnings)]` crate, an
/// `allow` is itself reported, at the `lwt!`, as overruled by the `forbid`; the lints of the
/// user's code in the block are then rustc's, as when it compiles. After parse errors, `parsed`
/// is the part of the block before the first statement in error (`parse::intact_prefix`), which
/// ends in a placeholder of any type, and the same holds of it; when nothing could be kept, the
/// value is the placeholder alone, so that the code around the macro reports no more errors
/// about it. Nor does rustc report "type annotations needed" in a body that holds an error, for
/// a name whose type only the code left out would have given (`Vec::new()`, pushed to later).
pub(crate) fn fallback(
    krate: &TokenStream,
    errors: Vec<syn::Error>,
    parsed: Option<&Block>,
) -> TokenStream {
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    let value = match parsed {
        Some(block) => top(krate, block),
        None => quote!(#krate::control::invalid()),
    };
    quote! {
        {
            #(#errors)*
            #value
        }
    }
}

/// A block as an expression of type `Promise<_>`.
fn block_expr(block: &Block) -> TokenStream {
    with_prefix(
        items(block),
        stmts_expr(&block.stmts, block.tail.as_deref(), false, false),
    )
}

/// A block whose `Promise<()>` the runtime function it goes to checks (a loop body, the branch
/// of an `if` without `else`, a cleanup): a last statement `expr;` is returned without
/// `__lwt::last(..)` around it (through `__lwt::statement(..)` after a wait: see [`stmts_expr`]).
fn unit_block_expr(block: &Block) -> TokenStream {
    with_prefix(
        items(block),
        stmts_expr(&block.stmts, block.tail.as_deref(), true, false),
    )
}

/// The items of a block, which go first: in Rust, an item is visible in its whole block, but
/// emitted in place it would be inside the closure of the `let` before it.
fn items(block: &Block) -> TokenStream {
    let mut out = TokenStream::new();
    for stmt in &block.stmts {
        if let Stmt::Plain(plain) = stmt {
            if is_item(plain) {
                plain_stmt(plain, &mut out);
            }
        }
    }
    out
}

fn is_item(plain: &Plain) -> bool {
    matches!(plain, Plain::Item(_) | Plain::Stmt(syn::Stmt::Item(_)))
}

/// The statements of a block, and its value. `unit_checked`: the block's form checks its
/// `Promise<()>` (see [`unit_block_expr`]); `nested`: these statements are the rest of the block
/// after a statement that waits, in the closure of its bind, which the form's check does not see
/// into.
fn stmts_expr(
    stmts: &[Stmt],
    tail: Option<&Tail>,
    unit_checked: bool,
    nested: bool,
) -> TokenStream {
    let mut prefix = TokenStream::new();
    for (i, stmt) in stmts.iter().enumerate() {
        let rest = &stmts[i + 1..];
        let is_last = rest.is_empty() && tail.is_none();
        let expr = match stmt {
            Stmt::Plain(plain) => {
                if !is_item(plain) {
                    plain_stmt(plain, &mut prefix);
                }
                continue;
            }
            Stmt::Bind(b) => bind(b, stmts_expr(rest, tail, unit_checked, true), false),
            // Only in a flow block (`jumps::check` rejects it elsewhere).
            Stmt::Jump(j) => jump(j),
            Stmt::Seq(e) => {
                let span = e.span();
                let lwt = rt(span);
                if is_last && unit_checked && nested {
                    let e = statement(e);
                    quote_spanned!(span=> #lwt::statement(#e))
                } else if is_last && unit_checked {
                    statement(e)
                } else if is_last {
                    let e = statement(e);
                    quote_spanned!(span=> #lwt::last(#e))
                } else {
                    let rest = (
                        rest_span(rest, tail),
                        stmts_expr(rest, tail, unit_checked, true),
                    );
                    let e = if may_hold_temporaries(e) {
                        waited(e)
                    } else {
                        statement(e)
                    };
                    seq(span, e, rest)
                }
            }
            Stmt::Form(f) => {
                let (span, expr) = (form_span(f), form(f));
                let lwt = rt(span);
                if is_last && unit_checked {
                    expr
                } else if is_last {
                    quote_spanned!(span=> #lwt::last(#expr))
                } else {
                    let rest = (
                        rest_span(rest, tail),
                        stmts_expr(rest, tail, unit_checked, true),
                    );
                    let expr = if form_may_hold_temporaries(f) {
                        evaluated(span, expr)
                    } else {
                        expr
                    };
                    seq(span, expr, rest)
                }
            }
            Stmt::Assert(a) => {
                let expr = assertion(a);
                if is_last {
                    expr
                } else {
                    let rest = (
                        rest_span(rest, tail),
                        stmts_expr(rest, tail, unit_checked, true),
                    );
                    seq(a.span, expr, rest)
                }
            }
        };
        return with_prefix(prefix, expr);
    }
    let value = match tail {
        None => {
            let lwt = rt(Span::call_site());
            quote!(#lwt::done())
        }
        Some(Tail::Expr(e)) if crate::check::is_diverging_macro(e) => {
            // `panic!(..)` as the block's value has type `!`, which only coerces where the
            // type is known: an `if` without `else` or a loop body hands it to a generic
            // check, where it would fall back to `()`. Returned by a closure of the expected
            // type it coerces as a diverging Rust block does, and the code around it is not
            // unreachable (no `unreachable_code` warning on generated code).
            let span = e.span();
            let lwt = rt(span);
            quote_spanned!(span=> #lwt::diverged(|| #e))
        }
        Some(Tail::Expr(e)) if unit_checked => e.to_token_stream(),
        Some(Tail::Expr(e)) => checked_value(e),
        Some(Tail::Plain(e)) => {
            let span = e.span();
            let lwt = rt(span);
            quote_spanned!(span=> #lwt::ret(#e))
        }
        Some(Tail::Form(f)) => form(f),
    };
    with_prefix(prefix, value)
}

/// `{ plain statements; expr }`, or `expr` alone.
fn with_prefix(prefix: TokenStream, expr: TokenStream) -> TokenStream {
    if prefix.is_empty() {
        expr
    } else {
        quote!({ #prefix #expr })
    }
}

/// A block as the value of a form: a `Promise<Flow>` in a flow block, its own value otherwise.
fn block_in(block: &Block, flow: bool) -> TokenStream {
    if flow {
        flow_block_expr(block)
    } else {
        block_expr(block)
    }
}

/// A block on the path from a loop body to a `break` or `continue` (see `jumps`), as a
/// `Promise<Flow>`: a statement that contains one goes through `flow_seq`, which runs the rest
/// only after `Flow::Next`; the block's last statement or value, a `Promise<()>`, through
/// `flow_last`, which makes it `Flow::Next`.
fn flow_block_expr(block: &Block) -> TokenStream {
    with_prefix(
        items(block),
        flow_stmts_expr(&block.stmts, block.tail.as_deref()),
    )
}

fn flow_stmts_expr(stmts: &[Stmt], tail: Option<&Tail>) -> TokenStream {
    let mut prefix = TokenStream::new();
    for (i, stmt) in stmts.iter().enumerate() {
        let rest = &stmts[i + 1..];
        let is_last = rest.is_empty() && tail.is_none();
        let rest_of = || (rest_span(rest, tail), flow_stmts_expr(rest, tail));
        let expr = match stmt {
            Stmt::Plain(plain) => {
                if !is_item(plain) {
                    plain_stmt(plain, &mut prefix);
                }
                continue;
            }
            Stmt::Jump(j) => jump(j),
            Stmt::Bind(b) => bind(b, flow_stmts_expr(rest, tail), true),
            Stmt::Seq(e) => {
                let span = e.span();
                if is_last {
                    flow_last(span, statement(e))
                } else {
                    let e = if may_hold_temporaries(e) {
                        waited(e)
                    } else {
                        statement(e)
                    };
                    seq(span, e, rest_of())
                }
            }
            Stmt::Form(f) => {
                let span = form_span(f);
                let jumps = crate::jumps::form_jumps(f);
                let expr = if jumps { flow_form(f) } else { form(f) };
                if is_last && jumps {
                    expr
                } else if is_last {
                    flow_last(span, expr)
                } else {
                    let expr = if form_may_hold_temporaries(f) {
                        evaluated(span, expr)
                    } else {
                        expr
                    };
                    if jumps {
                        let (rest_at, rest) = rest_of();
                        let lwt = rt(span);
                        let rest = closure(rest_at, quote!(||), rest);
                        quote_spanned!(span=> #lwt::flow_seq(#expr, #rest))
                    } else {
                        seq(span, expr, rest_of())
                    }
                }
            }
            Stmt::Assert(a) => {
                let expr = assertion(a);
                if is_last {
                    flow_last(a.span, expr)
                } else {
                    seq(a.span, expr, rest_of())
                }
            }
        };
        return with_prefix(prefix, expr);
    }
    let value = match tail {
        None => {
            let lwt = rt(Span::call_site());
            quote!(#lwt::ret(#lwt::Flow::Next))
        }
        Some(Tail::Expr(e)) if crate::check::is_diverging_macro(e) => {
            let span = e.span();
            let lwt = rt(span);
            quote_spanned!(span=> #lwt::diverged(|| #e))
        }
        Some(Tail::Expr(e)) => flow_last(e.span(), e.to_token_stream()),
        Some(Tail::Plain(e)) => {
            let span = e.span();
            let lwt = rt(span);
            flow_last(span, quote_spanned!(span=> #lwt::ret(#e)))
        }
        Some(Tail::Form(f)) if crate::jumps::form_jumps(f) => flow_form(f),
        Some(Tail::Form(f)) => flow_last(form_span(f), form(f)),
    };
    with_prefix(prefix, value)
}

/// `__lwt::flow_last(promise)`: the `Promise<()>` that ends a flow block, as `Flow::Next`.
fn flow_last(span: Span, promise: TokenStream) -> TokenStream {
    let lwt = rt(span);
    quote_spanned!(span=> #lwt::flow_last(#promise))
}

/// `break` or `continue`: the promise of the flow that ends the iteration.
fn jump(j: &Jump) -> TokenStream {
    let lwt = rt(j.span);
    let flow = match j.kind {
        JumpKind::Break => Ident::new("Break", j.span),
        JumpKind::Continue => Ident::new("Continue", j.span),
    };
    quote_spanned!(j.span=> #lwt::ret(#lwt::Flow::#flow))
}

/// A form with a `break` or `continue` in it, as a `Promise<Flow>` (a loop's own `break` is its
/// own: as a statement, a loop is a plain `Promise<()>`).
fn flow_form(f: &Form) -> TokenStream {
    form_in(f, true)
}

/// A loop's body: a `Promise<()>` checked where it is written (`loop_body`, for `for` and
/// `loop`, whose drivers would report it at the keyword), or, with `break` or `continue` in it,
/// a `Promise<Flow>` made an iteration.
fn loop_body(span: Span, body: &Block, checked: bool) -> TokenStream {
    let lwt = rt(span);
    if crate::jumps::block_jumps(body) {
        let body = flow_block_expr(body);
        quote_spanned!(span=> #lwt::flow_body(#body))
    } else if checked {
        let body = unit_block_expr(body);
        quote_spanned!(span=> #lwt::loop_body(#body))
    } else {
        unit_block_expr(body)
    }
}

fn plain_stmt(plain: &Plain, out: &mut TokenStream) {
    match plain {
        Plain::Item(item) => item.to_tokens(out),
        Plain::Stmt(syn::Stmt::Expr(e, None)) => {
            // A block-like statement (`do { .. }`): its value, if any, is dropped as with `;`.
            out.extend(quote!(#e;));
        }
        Plain::Stmt(stmt) => stmt.to_tokens(out),
    }
}

/// `__lwt::seq(promise, move || rest)`: the call at the statement, the closure at the start of
/// the rest (where the compiler's ownership errors about it then point).
fn seq(span: Span, promise: TokenStream, rest: (Span, TokenStream)) -> TokenStream {
    let lwt = rt(span);
    let rest = closure(rest.0, quote!(||), rest.1);
    quote_spanned!(span=> #lwt::seq(#promise, #rest))
}

/// A statement's expression `e`, as the argument of the check that it is a `Promise<()>`: a method call goes through [`evaluated`], so that for a plain call
/// written without `do` (`w.cancel();`) rustc does not suggest removing the call (`w;`), which
/// would compile and wait on the receiver instead of calling the method.
fn statement(e: &syn::Expr) -> TokenStream {
    // Through parentheses, and the invisible group of a `macro_rules!` caller's `$e:expr`.
    let mut inner = e;
    while let syn::Expr::Paren(syn::ExprParen { expr, .. })
    | syn::Expr::Group(syn::ExprGroup { expr, .. }) = inner
    {
        inner = expr;
    }
    if matches!(inner, syn::Expr::MethodCall(_)) {
        evaluated(e.span(), e.to_token_stream())
    } else {
        e.to_token_stream()
    }
}

/// The expression a form waits on, as the form's argument: through [`evaluated`] if it may
/// hold temporaries, as written if it cannot (a name, a literal, a call on names: the common
/// `let x = p;` and `let y = fetch(x);` stay as they read in `cargo expand`).
fn waited(e: &syn::Expr) -> TokenStream {
    if may_hold_temporaries(e) {
        evaluated(e.span(), e.to_token_stream())
    } else {
        e.to_token_stream()
    }
}

/// `__lwt::iterable(e)`: a `for` loop's iterable, as it is, checked where it is written (as
/// Rust's `for` calls `IntoIterator::into_iter(e)` there), so that a value that is not iterable is
/// reported once, at `e`, not at `for` through the driver's bounds (see `control::iterable`; an
/// earlier attempt, which checked `e` apart and handed the driver `e` itself, reported it twice).
/// rustc reports it at this call, which spans exactly `e`: its name at `e`'s first token, its
/// parentheses at the last (a span cannot be joined on stable Rust).
fn iterable(e: &syn::Expr, value: TokenStream) -> TokenStream {
    let at = e.span();
    let lwt = rt(at);
    let end = (e.to_token_stream().into_iter().last()).map_or(at, |t| t.span());
    let mut args = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, value);
    args.set_span(end);
    quote_spanned!(at=> #lwt::iterable #args)
}

/// [`waited`] for a binding's value (`init(b)`).
fn waited_init(b: &Binding, init: TokenStream) -> TokenStream {
    if init_may_hold_temporaries(b) {
        evaluated(init_span(b), init)
    } else {
        init
    }
}

/// [`may_hold_temporaries`] for a binding's value, an expression or a form.
fn init_may_hold_temporaries(b: &Binding) -> bool {
    match &b.init {
        Init::Expr(e) => may_hold_temporaries(e),
        Init::Form(f) => form_may_hold_temporaries(f),
    }
}

/// Can a form's expansion leave a temporary alive until the end of the statement it is in?
/// Only a `{ .. }` block: its value is its last expression, as written, whose temporaries a
/// block's tail keeps to the end of the enclosing statement (edition 2021). The other forms put
/// the user's code in closures (their branches, arms, bodies) or through [`waited`] (an `if`'s
/// condition), which drop their temporaries as they return.
fn form_may_hold_temporaries(f: &Form) -> bool {
    matches!(f, Form::Block(_))
}

/// Can evaluating `e` leave a temporary alive until the end of the enclosing statement? Not
/// for a name, a literal, a field of a name, or a call (function or method on a name) whose
/// arguments cannot either: their values are moved into the call or borrowed from places.
/// Anything else may (a method called on a call's result, such as `c.borrow().get()`, a
/// macro), and is evaluated on its own.
fn may_hold_temporaries(e: &syn::Expr) -> bool {
    let place = |e: &syn::Expr| match e {
        syn::Expr::Path(_) => true,
        syn::Expr::Field(f) => matches!(&*f.base, syn::Expr::Path(_)),
        _ => false,
    };
    match e {
        syn::Expr::Path(_) | syn::Expr::Lit(_) => false,
        syn::Expr::Field(_) => !place(e),
        syn::Expr::Paren(p) => may_hold_temporaries(&p.expr),
        syn::Expr::Tuple(t) => t.elems.iter().any(may_hold_temporaries),
        // `a..=b` moves its bounds.
        syn::Expr::Range(r) => [&r.start, &r.end]
            .into_iter()
            .flatten()
            .any(|e| may_hold_temporaries(e)),
        syn::Expr::Call(c) => {
            !matches!(&*c.func, syn::Expr::Path(_)) || c.args.iter().any(may_hold_temporaries)
        }
        syn::Expr::MethodCall(m) => !place(&m.receiver) || m.args.iter().any(may_hold_temporaries),
        // `&name` borrows a place; `&f(x)` borrows a temporary.
        syn::Expr::Reference(r) => !place(&r.expr),
        // `!ok`, `-n`: the operand is moved. `*x` borrows it: only a place is safe.
        syn::Expr::Unary(u) => match u.op {
            syn::UnOp::Deref(_) => !place(&u.expr),
            _ => may_hold_temporaries(&u.expr),
        },
        // A comparison borrows its operands (a call's result would be a temporary held to the
        // end); the other operators move them.
        syn::Expr::Binary(b) => {
            use syn::BinOp::*;
            let compares = matches!(b.op, Eq(_) | Ne(_) | Lt(_) | Le(_) | Gt(_) | Ge(_));
            let operand = |e: &syn::Expr| {
                if compares {
                    !place(e) && !matches!(e, syn::Expr::Lit(_))
                } else {
                    may_hold_temporaries(e)
                }
            };
            operand(&b.left) || operand(&b.right)
        }
        _ => true,
    }
}

/// `__lwt::evaluate(|| expr)`: the user's expression evaluated in a closure called at once, so that
/// its temporaries (a `RefCell` borrow, say) are dropped before the form's continuation runs,
/// as at the end of a Rust statement. Passed straight to `bind`, they would live until `bind`
/// returns, and `bind` runs the continuation at once when the promise is already resolved:
/// `let v = ret(*c.borrow()); do *c.borrow_mut() = v;` would panic with "already borrowed".
/// The call is placed at the expression, where a value of the wrong type is then reported; the
/// closure's bars are the macro's (a closure written by the user could draw lints).
fn evaluated(at: Span, expr: TokenStream) -> TokenStream {
    let lwt = rt(at);
    let bars = generated_bars(at, quote!(||));
    // The parentheses at the expression's last token: the call then spans the whole expression
    // (a span cannot be joined on stable Rust), so an error underlines all of it.
    let end = expr.clone().into_iter().last().map_or(at, |t| t.span());
    let mut args =
        proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, quote!(#bars #expr));
    args.set_span(end);
    quote_spanned!(at=> #lwt::evaluate #args)
}

/// Where the rest of a block starts: its first statement, or its value.
fn rest_span(stmts: &[Stmt], tail: Option<&Tail>) -> Span {
    // Items are not part of the rest: they go to the front of the block.
    let first = stmts
        .iter()
        .find(|s| !matches!(s, Stmt::Plain(p) if is_item(p)));
    match (first, tail) {
        (Some(Stmt::Bind(b)), _) => b.span,
        (Some(Stmt::Seq(e)), _) => e.span(),
        (Some(Stmt::Form(f)), _) => form_span(f),
        (Some(Stmt::Assert(a)), _) => a.span,
        (Some(Stmt::Jump(j)), _) => j.span,
        (Some(Stmt::Plain(Plain::Stmt(s))), _) => s.span(),
        (Some(Stmt::Plain(Plain::Item(i))), _) => i.span(),
        (None, Some(Tail::Expr(e) | Tail::Plain(e))) => e.span(),
        (None, Some(Tail::Form(f))) => form_span(f),
        (None, None) => Span::call_site(),
    }
}

/// `move |params| body`, with the `move` and the bars spanned in the macro, so that lints about
/// closures (`redundant_closure`...) see generated code.
fn closure(span: Span, params: TokenStream, body: TokenStream) -> TokenStream {
    let site = generated(span);
    let params = generated_bars(span, params);
    quote_spanned!(site=> move #params #body)
}

/// `|| body`, borrowing (called at once), spanned like [`closure`].
fn thunk(span: Span, body: TokenStream) -> TokenStream {
    quote_spanned!(generated(span)=> || #body)
}

/// The `|`s of closure parameters, spanned in the macro.
fn generated_bars(span: Span, params: TokenStream) -> TokenStream {
    params
        .into_iter()
        .map(|mut tt| {
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == '|') {
                tt.set_span(generated(span));
            }
            tt
        })
        .collect()
}

/// The user's `span` (so that messages point at the statement), marked as generated by the
/// macro (so that lints about hand-written closures stay quiet).
fn generated(span: Span) -> Span {
    span.resolved_at(Span::mixed_site())
}

/// A user's pattern as a closure parameter: closure parameters cannot be or-patterns at their
/// top level (`|Ok(x) | Err(x)|` does not parse), so these go in parentheses.
fn param(pat: &syn::Pat) -> TokenStream {
    match pat {
        syn::Pat::Or(or) if or.leading_vert.is_some() => {
            let cases = &or.cases;
            quote!((#cases))
        }
        syn::Pat::Or(_) => quote!((#pat)),
        _ => pat.to_token_stream(),
    }
}

/// The parameters of the closure that receives a binding's value, and its body, `rest` behind
/// the binding's pattern. Without a type, the pattern is the parameter: `|x| rest`. With one
/// (`let x: T = p;`), the parameter has no type and the body starts with the pattern and its type:
/// `|__value| { let x: T = __value; rest }`, the value located at the user's expression, so that a
/// promise of another type is reported as Rust reports a `let` ("expected `T`, found `U`" at the
/// value, "expected due to this" at `T`), not as a closure whose signature does not match the
/// promise's (E0631, about a closure the user did not write).
fn bound(
    pat: TokenStream,
    ty: Option<TokenStream>,
    at: Span,
    rest: TokenStream,
) -> [TokenStream; 2] {
    match ty {
        None => [quote!(|#pat|), rest],
        Some(ty) => {
            let value = Ident::new("__value", Span::mixed_site().located_at(at));
            let declared = mutable_if_borrowed(&pat, value.clone());
            [
                quote!(|#declared|),
                quote!({ let #pat: #ty = #value; #rest }),
            ]
        }
    }
}

/// `value`, declared `mut` if `pat` holds `ref mut`: `let ref mut e: T = __value;` borrows the
/// closure's parameter mutably (E0596 if it is not `mut`), where the user's own
/// `let ref mut e: T = v;` would have borrowed a temporary. Moving the value into a temporary
/// instead (`{ __value }`) would drop it at the end of the `let` under a `_` pattern. Only
/// then, to keep the expansion as the user reads it in `cargo expand`; a `mut` that the token
/// test adds where nothing needs it (`&mut ref mut x`) draws no warning, since rustc does not
/// report `unused_mut` in a macro's output.
fn mutable_if_borrowed(pat: &TokenStream, value: Ident) -> TokenStream {
    fn borrows(tokens: TokenStream) -> bool {
        let mut after_ref = false;
        for tt in tokens {
            match tt {
                proc_macro2::TokenTree::Ident(i) if i == "mut" && after_ref => return true,
                proc_macro2::TokenTree::Group(g) if borrows(g.stream()) => return true,
                proc_macro2::TokenTree::Ident(i) => after_ref = i == "ref",
                _ => after_ref = false,
            }
        }
        false
    }
    if borrows(pat.clone()) {
        quote!(mut #value)
    } else {
        value.into_token_stream()
    }
}

/// [`bound`] for one binding.
fn bound_binding(b: &Binding, rest: TokenStream) -> [TokenStream; 2] {
    let ty = b.ty.as_ref().map(ToTokens::to_token_stream);
    bound(param(&b.pat), ty, init_span(b), rest)
}

/// Where a binding's value is written.
fn init_span(b: &Binding) -> Span {
    match &b.init {
        Init::Expr(e) => e.span(),
        Init::Form(f) => form_span(f),
    }
}

fn init(b: &Binding) -> TokenStream {
    match &b.init {
        Init::Expr(e) => e.to_token_stream(),
        Init::Form(f) => form(f),
    }
}

/// A `let`'s pattern as a `match` arm's: `let (A(x) | B(x)) = ..` needs its parentheses, an
/// arm does not, and rustc's `unused_parens` at the user's pattern would suggest a `let`
/// without them. (A `while let`'s are kept: Rust's own `while let (A | B) = ..` gets that
/// warning too.)
fn arm_pattern(pat: &syn::Pat) -> &syn::Pat {
    match pat {
        syn::Pat::Paren(inner) if matches!(*inner.pat, syn::Pat::Or(_)) => &inner.pat,
        _ => pat,
    }
}

/// `let` with `rest` after it; in a flow block (`flow`, see [`flow_block_expr`]), a let-else's
/// `else` block is one too.
fn bind(b: &Bind, rest: TokenStream, flow: bool) -> TokenStream {
    let lwt = rt(b.span);
    match b.bindings.as_slice() {
        [single] => {
            let expr = init(single);
            match &b.else_block {
                None => {
                    let [params, body] = bound_binding(single, rest);
                    let closure = closure(b.span, params, body);
                    let promise = waited_init(single, expr);
                    quote_spanned!(b.span=> #lwt::bind(#promise, #closure))
                }
                Some((else_span, els)) => {
                    // Rust's let-else, as a `match`: the else block's promise replaces the
                    // rest. The `_` arm is spanned at the user's `else`, so that a pattern that
                    // always matches gets rustc's `unreachable_patterns` there ("unreachable
                    // pattern", with a note at the pattern that matches any value), where
                    // Rust's own let-else gets `irrefutable_let_patterns`: lints on the
                    // macro's tokens stay quiet. Not Rust's let-else itself: its rest would be
                    // a block's tail, whose temporaries outlive the pattern's bindings in
                    // edition 2021 (E0597 for `ret(cell.borrow().len())`), and its `return f`
                    // gets "unreachable expression" when `f` never returns (rev118).
                    let value = hygienic("__value");
                    let (pat, els) = (&single.pat, block_in(els, flow));
                    let ty = single.ty.as_ref().map(ToTokens::to_token_stream);
                    // `match` borrows from `__value` where the pattern binds by `ref mut`.
                    let declared = mutable_if_borrowed(&pat.to_token_stream(), value.clone());
                    let otherwise = quote_spanned!(*else_span=> _);
                    let pat = arm_pattern(pat);
                    let [params, body] = bound(
                        declared,
                        ty,
                        init_span(single),
                        quote! {
                            match #value {
                                #pat => #rest,
                                #otherwise => #els,
                            }
                        },
                    );
                    let closure = closure(b.span, params, body);
                    let promise = waited_init(single, expr);
                    quote_spanned!(b.span=> #lwt::bind(#promise, #closure))
                }
            }
        }
        bindings if b.fail_fast => {
            // both(e0, both(e1, e2)), bound to (p0, (p1, p2)).
            let mut iter = bindings.iter().rev();
            let last = iter.next().expect("at least two bindings");
            let (mut promises, mut pats) = (init(last), last.pat.to_token_stream());
            let any_ty = bindings.iter().any(|b| b.ty.is_some());
            promises = promise_at_value(last, promises);
            for binding in iter {
                let pat = &binding.pat;
                let expr = promise_at_value(binding, init(binding));
                let lwt = rt(binding.span);
                promises = quote_spanned!(binding.span=> #lwt::both(#expr, #promises));
                pats = quote!((#pat, #pats));
            }
            let [params, body] = if any_ty {
                // `|(__value0, (__value1, ..))| { let p0: T0 = __value0; .. rest }`, each value
                // located at its binding's expression: a promise of another type is reported
                // there, as for one binding (see `bound`), not as a tuple the user did not write.
                let values: Vec<Ident> = (bindings.iter().enumerate())
                    .map(|(i, b)| {
                        let at = Span::mixed_site().located_at(init_span(b));
                        format_ident!("__value{}", i, span = at)
                    })
                    .collect();
                let declared: Vec<TokenStream> = (bindings.iter().zip(&values))
                    .map(|(b, v)| mutable_if_borrowed(&b.pat.to_token_stream(), v.clone()))
                    .collect();
                let mut names = declared.iter().rev();
                let last = names.next().expect("at least two bindings");
                let tuple = names.fold(quote!(#last), |inner, v| quote!((#v, #inner)));
                let lets = bindings.iter().zip(&values).map(|(b, v)| {
                    let pat = param(&b.pat);
                    match &b.ty {
                        Some(ty) => quote!(let #pat: #ty = #v;),
                        None => quote!(let #pat = #v;),
                    }
                });
                [quote!(|#tuple|), quote!({ #(#lets)* #rest })]
            } else {
                [quote!(|#pats|), rest]
            };
            let closure = closure(b.span, params, body);
            let promises = if bindings.iter().any(init_may_hold_temporaries) {
                evaluated(b.span, promises)
            } else {
                promises
            };
            quote_spanned!(b.span=> #lwt::bind(#promises, #closure))
        }
        bindings => {
            // lwt_ppx: evaluate every expression first, then bind them in order.
            let names: Vec<Ident> = (0..bindings.len())
                .map(|i| format_ident!("__and{}", i, span = Span::mixed_site()))
                .collect();
            let lets = bindings.iter().zip(&names).map(|(b, name)| {
                // Checked here, at the user's expression: `bind(__and0, ..)` would report a
                // non-promise on the whole `lwt!` call.
                let promise = promise_at_value(b, init(b));
                quote!(let #name = #promise;)
            });
            let mut body = rest;
            for (binding, name) in bindings.iter().zip(&names).rev() {
                let lwt = rt(binding.span);
                let [params, inner] = bound_binding(binding, body);
                let closure = closure(binding.span, params, inner);
                body = quote_spanned!(binding.span=> #lwt::bind(#name, #closure));
            }
            quote!({ #(#lets)* #body })
        }
    }
}

/// `Bindable::into_promise(expr)`, spanned at the binding's value: a value that is not a promise
/// is reported there, once, instead of on the operation that waits for it (`both`, `bind`), which
/// reports it once per bound it needs.
fn promise_at_value(b: &Binding, expr: TokenStream) -> TokenStream {
    let at = init_span(b);
    let lwt = rt(at);
    quote_spanned!(at=> #lwt::Bindable::into_promise(#expr))
}

/// Does the expansion of `block` create closures (continuations) that capture variables? A loop
/// whose body does runs each iteration on a clone of its closure (the `_cloned` drivers), so that
/// these continuations can own what they capture; otherwise one closure serves every iteration.
/// Either way the body is a `move` closure with its own copies of what it captures, which is why
/// `captures` rejects assignments to the block's variables inside it.
fn binds(block: &Block) -> bool {
    let n = block.stmts.len();
    let stmt_binds = block.stmts.iter().enumerate().any(|(i, stmt)| {
        let last = i + 1 == n && block.tail.is_none();
        match stmt {
            Stmt::Plain(_) => false,
            Stmt::Bind(_) => true,
            Stmt::Seq(_) | Stmt::Assert(_) => !last,
            Stmt::Jump(_) => false,
            Stmt::Form(f) => !last || form_binds(f),
        }
    });
    stmt_binds
        || match block.tail.as_deref() {
            None | Some(Tail::Expr(_)) | Some(Tail::Plain(_)) => false,
            Some(Tail::Form(f)) => form_binds(f),
        }
}

fn form_binds(f: &Form) -> bool {
    match f {
        Form::Block(b) => binds(&b.block),
        _ => true,
    }
}

/// `name` or `name_cloned`, as [`binds`] says.
fn driver(name: &str, body: &Block, span: Span) -> Ident {
    if binds(body) {
        Ident::new(&format!("{name}_cloned"), span)
    } else {
        Ident::new(name, span)
    }
}

fn form_span(f: &Form) -> Span {
    match f {
        Form::If(i) => i.span,
        Form::Match(m) => m.span,
        Form::Try(t) => t.span,
        Form::For(f) => f.span,
        Form::While(w) => w.span,
        Form::WhileLet(w) => w.span,
        Form::Loop(l) => l.span,
        Form::Block(b) => b.span,
    }
}

fn form(f: &Form) -> TokenStream {
    form_in(f, false)
}

/// A form; in a flow block (`flow`, see [`flow_block_expr`]), its blocks are flow blocks, except
/// a loop's body, which is the loop's own.
fn form_in(f: &Form, flow: bool) -> TokenStream {
    match f {
        Form::If(i) => if_form(i, flow),
        Form::Match(m) => match_form(m, flow),
        Form::Try(t) => try_form(t, flow),
        Form::For(f) => {
            let lwt = rt(f.span);
            let pat = param(&f.pat);
            // Evaluated apart when it may hold temporaries, as a waited expression is: a
            // `c.borrow()` in `for x in c.borrow().clone()` would otherwise live until the
            // driver returns, beside a body that moves `c`.
            let expr = iterable(&f.expr, waited(&f.expr));
            // The body through `loop_body`, as `while`'s through `Next::body`: a body of the
            // wrong type is then reported at its value, not at `for` in the driver's bounds.
            let body = loop_body(f.span, &f.body, true);
            let closure = closure(f.span, quote!(|#pat|), body);
            let driver = driver("for_each", &f.body, f.span);
            // Under a guard, as the other loops' code: a panic while evaluating the iterable (or
            // in its `into_iter`) is a rejection of the loop too.
            let call = thunk(
                f.span,
                quote_spanned!(f.span=> #lwt::#driver(#expr, #closure)),
            );
            quote_spanned!(f.span=> #lwt::guard(#call))
        }
        Form::While(w) => {
            let lwt = rt(w.span);
            let step = hygienic("__step");
            let driver = driver("while_loop", &w.body, w.span);
            let (cond, body) = (&w.cond, loop_body(w.span, &w.body, false));
            let closure = closure(
                w.span,
                quote!(|#step|),
                quote_spanned! {w.span=>
                    match #step {
                        #lwt::Step::Cond => #lwt::Next::cond(#cond),
                        #lwt::Step::Body => #lwt::Next::body(#body),
                    }
                },
            );
            quote_spanned!(w.span=> #lwt::#driver(#closure))
        }
        Form::WhileLet(w) => {
            let lwt = rt(w.span);
            let step = hygienic("__step");
            let value = Ident::new("__value", Span::mixed_site().located_at(w.expr.span()));
            let driver = driver("while_let", &w.body, w.span);
            let (pat, expr, body) = (&w.pat, &w.expr, loop_body(w.span, &w.body, false));
            // As in `if_form`: the value in braces spanned at the user's promise.
            let scrutinee = quote_spanned!(expr.span()=> { #value });
            // The `_` arm at the user's `while`, as a let-else's at its `else`: a pattern that
            // always matches (the loop never ends) gets rustc's `unreachable_patterns` there.
            let otherwise = quote_spanned!(w.span=> _);
            let test = match &w.chain {
                None => quote_spanned! {w.span=>
                    match #scrutinee {
                        #pat => #lwt::LetNext::body(#body),
                        #otherwise => #lwt::LetNext::stop(),
                    }
                },
                // A let chain, as in `if let` (see `if_form`): Rust's own, in the user's edition.
                Some((and, rest)) => {
                    let matched = Ident::new("__lwt_while_let_value", w.span);
                    let test = quote_spanned!(w.span=> if let #pat = #matched #and #rest);
                    let test = quote! {
                        #test { #lwt::LetNext::body(#body) } else { #lwt::LetNext::stop() }
                    };
                    quote_spanned!(w.span=> { let #matched = #value; #test })
                }
            };
            let closure = closure(
                w.span,
                quote!(|#step|),
                quote_spanned! {w.span=>
                    match #step {
                        #lwt::LetStep::Next => #lwt::LetNext::value(#expr),
                        #lwt::LetStep::Body(#value) => #test,
                    }
                },
            );
            quote_spanned!(w.span=> #lwt::#driver(#closure))
        }
        Form::Loop(l) => {
            let lwt = rt(l.span);
            let driver = driver("forever", &l.body, l.span);
            let body = loop_body(l.span, &l.body, true);
            let closure = closure(l.span, quote!(||), body);
            quote_spanned!(l.span=> #lwt::#driver(#closure))
        }
        Form::Block(b) => {
            let body = block_in(&b.block, flow);
            // Braces at the user's brace, so that type errors about the block's promise point
            // at it. They may be unneeded (no plain statement to scope): the empty statement
            // keeps `unused_braces` quiet, and its generated span `redundant_semicolons`.
            let semi = quote_spanned!(generated(b.span)=> ;);
            quote_spanned!(b.span=> { #semi #body })
        }
    }
}

/// Does this `if`, or the last `else if` of its chain, have no `else`?
fn lacks_final_else(i: &If) -> bool {
    match &i.els {
        None => true,
        Some(Else::Block(_)) => false,
        Some(Else::If(inner)) => lacks_final_else(inner),
    }
}

/// `if`; in a flow block (`flow`), its branches are flow blocks (see [`flow_block_expr`]).
fn if_form(i: &If, flow: bool) -> TokenStream {
    let lwt = rt(i.span);
    let (then, els) = match &i.els {
        None if flow => (
            flow_block_expr(&i.then),
            quote_spanned!(i.span=> #lwt::ret(#lwt::Flow::Next)),
        ),
        None => {
            let then = unit_block_expr(&i.then);
            (
                quote_spanned!(i.span=> #lwt::unit(#then)),
                quote_spanned!(i.span=> #lwt::done()),
            )
        }
        Some(Else::Block(b)) => (block_in(&i.then, flow), block_in(b, flow)),
        // A chain without a final `else` (`if a {..} else if b {..}`) produces `()` when no
        // condition holds, as in Rust: each branch is checked as a `Promise<()>`, so that a
        // branch with a value gets the message of an `if` without `else`, and not a mismatch
        // with the `Promise<()>` of the `if` after it.
        Some(Else::If(inner)) if !flow && lacks_final_else(inner) => {
            let then = unit_block_expr(&i.then);
            (
                quote_spanned!(i.span=> #lwt::unit(#then)),
                if_form(inner, flow),
            )
        }
        Some(Else::If(inner)) => (block_in(&i.then, flow), if_form(inner, flow)),
    };
    match &i.cond {
        IfCond::Expr(cond_expr) => {
            let cond = hygienic("__cond");
            let closure = closure(
                i.span,
                quote!(|#cond|),
                quote!(if #cond { #then } else { #els }),
            );
            let cond_value = waited(cond_expr);
            quote_spanned!(i.span=> #lwt::branch(#cond_value, #closure))
        }
        IfCond::Let(pat, expr, chain) => {
            let (value, test) = match chain {
                // The value at the user's promise: a pattern of the wrong type gets its "this
                // expression has type" label there. The variable itself, a place, not in braces
                // as `match_form`'s: a value in braces is a temporary, and with the `if` at the
                // user's, an edition 2021 crate got `if_let_rescope` ("`if let` assigns a
                // shorter lifetime since Edition 2024", a `rust_2024_compatibility` lint, which
                // `cargo fix --edition` turns on) for a value with a `Drop`, whose drop this
                // `if let`, of the macro's edition, never moves. Named with the user's span, as
                // the chain's below: the `let` ending in a token of the macro's, rustc's
                // `irrefutable_let_patterns` would be quiet again.
                None => {
                    let value = Ident::new("__lwt_if_let_value", expr.span());
                    // At the user's `if`: a pattern that always matches gets rustc's
                    // `irrefutable_let_patterns` there (quiet on the macro's own tokens).
                    let test = quote_spanned!(i.span=> if let #pat = #value);
                    (value, test)
                }
                // A let chain needs edition 2024, and generated tokens have the edition of the
                // macro that made them (`lwt!`'s, not the user's): the chain's `if let`, and the
                // name it matches on, take the span of the user's `if`, and with it the user's
                // edition. (A name visible to the user, but no pattern can bind it before it is
                // matched.)
                Some((and, rest)) => {
                    let value = Ident::new("__lwt_if_let_value", i.span);
                    let test = quote_spanned!(i.span=> if let #pat = #value #and #rest);
                    (value, test)
                }
            };
            // A `ref mut` in the pattern borrows the closure's parameter mutably.
            let param = mutable_if_borrowed(&pat.to_token_stream(), value);
            let closure = closure(
                i.span,
                quote!(|#param|),
                quote!(#test { #then } else { #els }),
            );
            let promise = waited(expr);
            quote_spanned!(i.span=> #lwt::bind_if_let(#promise, #closure))
        }
    }
}

/// An arm's body; in a flow block (`flow`), a flow block too, and an expression is its
/// `Promise<()>` (see [`flow_block_expr`]).
fn body(b: &Body, flow: bool) -> TokenStream {
    match b {
        Body::Block(block) => block_in(block, flow),
        Body::Expr(e) if flow && crate::check::is_diverging_macro(e) => {
            let span = e.span();
            let lwt = rt(span);
            quote_spanned!(span=> #lwt::diverged(|| #e))
        }
        Body::Expr(e) if flow => flow_last(e.span(), e.to_token_stream()),
        Body::Expr(e) => checked_value(e),
    }
}

/// The value of a block or of an arm, which must be a promise: `__lwt::value(e)` where `e`
/// cannot be `!` (see `check::cannot_diverge`), so that a plain value there gets the error of
/// `BlockValue`, which says how to wrap it, rather than a bare type mismatch. A call is left as
/// it is: it may never return, and then it coerces to the promise the context expects.
fn checked_value(e: &syn::Expr) -> TokenStream {
    // `(q)` is passed as `value(q)`: parentheses around an argument are "unused" to rustc.
    let mut e = e;
    while let syn::Expr::Paren(p) = e {
        e = &p.expr;
    }
    if crate::check::cannot_diverge(e) {
        let span = e.span();
        let lwt = rt(span);
        quote_spanned!(span=> #lwt::value(#e))
    } else {
        e.to_token_stream()
    }
}

fn guard_tokens(guard: &Option<syn::Expr>) -> TokenStream {
    match guard {
        Some(g) => quote!(if #g),
        None => TokenStream::new(),
    }
}

/// The name a typed rejection arm binds the rejection to, at the user's type: spanned there, an
/// arm that an earlier catch-all arm (`e => ..`) makes unreachable gets rustc's
/// `unreachable_patterns` warning at its type, as a Rust `match` would (a name only the
/// expansion sees would keep the warning quiet, as lints in macro-made code are).
fn caught_name(ty: &syn::Type) -> Ident {
    Ident::new("__lwt_caught", ty.span())
}

/// One rejection arm, matching `exn` (wrapped in `Err(..)` inside a `match` on the outcome).
fn catch_arm(arm: &CatchArm, lwt: &Ident, in_outcome: bool, flow: bool) -> TokenStream {
    // An arm's `Err(..)` is spanned at its type, or its binding, so that `unreachable_patterns`
    // can report it there (see `caught_name`); `Err` itself stays the macro's, or
    // `unused_qualifications` would flag `__lwt::Err` on the user's code.
    let at = match (&arm.ty, &arm.binding) {
        (Some(ty), _) => ty.span(),
        (None, CatchBinding::Ident(_, e)) => e.span(),
        (None, CatchBinding::None(at)) => *at,
    };
    let wrap = |p: TokenStream| {
        if in_outcome {
            let (rt_at, err) = (rt(at), Ident::new("Err", generated(at)));
            quote_spanned!(at=> #rt_at::#err(#p))
        } else {
            p
        }
    };
    let body = body(&arm.body, flow);
    match (&arm.binding, &arm.ty) {
        (CatchBinding::Ident(mutability, e), None) => {
            let (pat, guard) = (wrap(quote!(#mutability #e)), guard_tokens(&arm.guard));
            quote!(#pat #guard => #body,)
        }
        (CatchBinding::None(_), None) => {
            let (pat, guard) = (wrap(quote_spanned!(at=> _)), guard_tokens(&arm.guard));
            quote!(#pat #guard => #body,)
        }
        (CatchBinding::Ident(mutability, e), Some(ty)) => {
            let exn = &caught_name(ty);
            let pat = wrap(exn.to_token_stream());
            let test = match &arm.guard {
                None => quote!(#lwt::catches::<#ty>(&#exn)),
                Some(g) => {
                    // A guard that does not look at the binding (`e: E if retry`) leaves the
                    // closure's parameter unused: the binding's use is the body's. It is used
                    // here by a borrow, not excused by an `allow`, which a crate under
                    // `#![forbid(warnings)]` or `#![forbid(unused)]` reports as overruled (a
                    // future hard error).
                    let test = generated_bars(e.span(), quote!(|#e|));
                    quote!(#lwt::caught_ref::<#ty>(&#exn).is_some_and(#test { let _ = &#e; #g }))
                }
            };
            // A binding used only by the guard is not unused (borrowed, as in the guard).
            let used = arm.guard.as_ref().map(|_| quote!(let _ = &#e;));
            quote! {
                #pat if #test => {
                    let #mutability #e = #lwt::caught::<#ty>(#exn);
                    #used
                    #body
                }
            }
        }
        (CatchBinding::None(_), Some(ty)) => {
            let exn = &caught_name(ty);
            let pat = wrap(exn.to_token_stream());
            let test = match &arm.guard {
                None => quote!(#lwt::catches::<#ty>(&#exn)),
                // In parentheses: a guard `a || b` must not become `(is && a) || b`.
                Some(g) => quote!(#lwt::catches::<#ty>(&#exn) && (#g)),
            };
            quote!(#pat if #test => #body,)
        }
    }
}

/// `match`; in a flow block (`flow`), its arms' bodies are flow blocks.
fn match_form(m: &Match, flow: bool) -> TokenStream {
    let lwt = rt(m.span);
    let expr = &m.expr;
    // The value arms form a `match` of their own, on a variable located at the user's scrutinee:
    // a non-exhaustive match is then reported there, with the user's own patterns (not inside an
    // `Ok(..)` the macro added, nor on the whole `lwt!` call).
    let value = Ident::new("__value", Span::mixed_site().located_at(expr.span()));
    let value_arms = m.arms.iter().filter_map(|arm| match arm {
        Arm::Value {
            attrs,
            pat,
            guard,
            body: b,
        } => {
            let (guard, b) = (guard_tokens(guard), body(b, flow));
            Some(quote!(#(#attrs)* #pat #guard => #b,))
        }
        Arm::Exception(_) => None,
    });
    // The scrutinee in parentheses spanned at the user's: rustc's "this expression has type"
    // label under a pattern of the wrong type goes there (the bare variable, of the macro's
    // hygiene, is labelled at the whole `lwt!` call).
    let scrutinee = quote_spanned!(expr.span()=> { #value });
    let value_match = quote!(match #scrutinee { #(#value_arms)* });
    let has_exception = m.arms.iter().any(|a| matches!(a, Arm::Exception(_)));
    if !has_exception {
        // lwt_ppx turns every `match%lwt` into `Lwt.try_bind (fun () -> e) ..` (it adds a
        // re-raising exception case when there is none), so a panic while evaluating the
        // scrutinee is a rejection here too, never a panic escaping the block.
        let (thunk, closure) = (
            scrutinee_thunk(expr),
            closure(m.span, quote!(|#value|), value_match),
        );
        return quote_spanned!(m.span=> #lwt::bind_match(#lwt::scrutinee(#thunk), #closure));
    }
    let (outcome, exn) = (hygienic("__outcome"), hygienic("__exn"));
    // The value arms and the rejection arms cannot overlap (`Ok` against `Err`), so splitting
    // them keeps the order in which each kind is tried.
    let mut arms = quote!(#lwt::Ok(#value) => #value_match,);
    for arm in &m.arms {
        if let Arm::Exception(c) = arm {
            arms.extend(catch_arm(c, &lwt, true, flow));
        }
    }
    if !m
        .arms
        .iter()
        .any(|a| matches!(a, Arm::Exception(c) if c.catches_all()))
    {
        // `Err` spanned in the macro: at the user's span, `unused_qualifications` would flag
        // `__lwt::Err` (the prelude has `Err`) on the user's `match`.
        let err = Ident::new("Err", generated(m.span));
        arms.extend(quote_spanned!(m.span=> #lwt::#err(#exn) => #lwt::reraise(#exn),));
    }
    let (thunk, closure) = (
        scrutinee_thunk(expr),
        closure(m.span, quote!(|#outcome|), quote!(match #outcome { #arms })),
    );
    quote_spanned!(m.span=> #lwt::outcome(#lwt::scrutinee(#thunk), #closure))
}

/// `|| scrutinee_promise(expr)`, spanned at the scrutinee: evaluated under `scrutinee`'s
/// guard, and a value that is not a promise is reported on the user's expression rather than on
/// the `match` keyword, once.
fn scrutinee_thunk(expr: &syn::Expr) -> TokenStream {
    let at = expr.span();
    let lwt = rt(at);
    thunk(at, quote_spanned!(at=> #lwt::scrutinee_promise(#expr)))
}

/// `try`; in a flow block (`flow`), its body and `catch` arms are flow blocks (its cleanup never
/// is).
fn try_form(t: &Try, flow: bool) -> TokenStream {
    let lwt = rt(t.span);
    let body = block_in(&t.body, flow);
    let thunk = thunk(t.span, body);
    let mut expr = quote_spanned!(t.span=> #lwt::guard(#thunk));
    if let Some((span, arms)) = &t.catch {
        let lwt = rt(*span);
        let exn = hygienic("__exn");
        let mut tokens = TokenStream::new();
        for arm in arms {
            tokens.extend(catch_arm(arm, &lwt, false, flow));
        }
        if !arms.iter().any(CatchArm::catches_all) {
            tokens.extend(quote_spanned!(*span=> #exn => #lwt::reraise(#exn),));
        }
        let closure = closure(*span, quote!(|#exn|), quote!(match #exn { #tokens }));
        expr = quote_spanned!(*span=> #lwt::catch(#expr, #closure));
    }
    if let Some((span, cleanup)) = &t.finally {
        let lwt = rt(*span);
        let cleanup = unit_block_expr(cleanup);
        let closure = closure(
            *span,
            quote!(||),
            quote_spanned!(*span=> #lwt::cleanup(#cleanup)),
        );
        expr = quote_spanned!(*span=> #lwt::finalize(#expr, #closure));
    }
    expr
}

/// `expr` as the operand of `&`: in parentheses unless it is a single term.
fn operand(e: &syn::Expr) -> TokenStream {
    use syn::Expr::*;
    match e {
        Lit(_) | Path(_) | Call(_) | MethodCall(_) | Field(_) | Index(_) | Paren(_) | Macro(_)
        | Tuple(_) | Array(_) => e.to_token_stream(),
        _ => quote!((#e)),
    }
}

/// `__lwt::guard(|| check)`: as lwt_ppx's `try Lwt.return (assert e) with exn -> Lwt.fail exn`,
/// a panic while evaluating an assertion's operands rejects too.
fn guarded(lwt: &Ident, span: Span, check: TokenStream) -> TokenStream {
    let thunk = thunk(span, check);
    quote_spanned!(span=> #lwt::guard(#thunk))
}

fn assertion(a: &Assert) -> TokenStream {
    let lwt = rt(a.span);
    let message = &a.message;
    match a.kind {
        AssertKind::True => {
            let cond = &a.operands[0];
            let text = if message.is_empty() {
                thunk(
                    a.span,
                    // `Into` rather than `String::from`: `String` is not in scope in a
                    // `#![no_std]` crate.
                    quote! {
                        ::core::convert::Into::into(
                            ::core::concat!("assertion failed: ", ::core::stringify!(#cond)),
                        )
                    },
                )
            } else {
                thunk(a.span, quote!(#lwt::__private::format!(#(#message),*)))
            };
            let check = quote_spanned!(a.span=> #lwt::assert(#cond, #text));
            guarded(&lwt, a.span, check)
        }
        AssertKind::Eq | AssertKind::Ne => {
            let (left, right) = (&a.operands[0], &a.operands[1]);
            // A closure, as for `assert!`: std evaluates the message's arguments only on failure.
            let text = if message.is_empty() {
                thunk(a.span, quote!(::core::option::Option::None))
            } else {
                thunk(
                    a.span,
                    quote!(::core::option::Option::Some(#lwt::__private::format!(#(#message),*))),
                )
            };
            let function = match a.kind {
                AssertKind::Eq => quote_spanned!(a.span=> assert_eq),
                _ => quote_spanned!(a.span=> assert_ne),
            };
            let (left, right) = (operand(left), operand(right));
            let check = quote_spanned!(a.span=> #lwt::#function(&#left, &#right, #text));
            guarded(&lwt, a.span, check)
        }
    }
}
