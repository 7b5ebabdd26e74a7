//! `break` and `continue` statements: where they may be, and which blocks they make "flow"
//! blocks.
//!
//! A loop body of `lwt!` runs as callbacks, so Rust's `break` cannot leave it. The macro's own
//! `break;`/`continue;` statements instead make the body's promise say how the iteration ended
//! (`lwt::control::Flow`): every block between the loop's body and the statement, and every
//! statement of those blocks that contains one, then produces a `Promise<Flow>`, and the rest of
//! a block runs only after a statement that finished normally (`Flow::Next`). The expansion
//! needs to know which blocks and forms those are ([`block_jumps`], [`form_jumps`]); the checks
//! here reject the statements where no such path to a loop exists.
//!
//! The path goes through the forms whose value is a block's value or a statement: `if`/`else`,
//! the arms of `match` (its rejection arms too), `try` and its `catch` arms, nested `{ .. }`
//! blocks and the `else` block of a `let .. else`. It stops at a nested loop (whose body is its
//! own), at `finally` (a cleanup cannot end the loop it cleans up after), and at the value of a
//! `let` (`let x = if c { break; } else { .. };` would need a `Promise<Flow>` with a value in it:
//! rare in practice, and `let .. else { break; }` says the same).

use crate::ast::*;

/// Does `block`, or a form along the path described in the module docs, contain a `break` or a
/// `continue` statement? Its expansion then produces a `Promise<Flow>`.
pub(crate) fn block_jumps(block: &Block) -> bool {
    block.stmts.iter().any(|stmt| match stmt {
        Stmt::Jump(_) => true,
        Stmt::Bind(b) => b
            .else_block
            .as_ref()
            .is_some_and(|(_, els)| block_jumps(els)),
        Stmt::Form(f) => form_jumps(f),
        Stmt::Seq(_) | Stmt::Plain(_) | Stmt::Assert(_) => false,
    }) || matches!(block.tail.as_deref(), Some(Tail::Form(f)) if form_jumps(f))
}

/// Does this form, as a statement or a block's value, contain a `break` or a `continue` that
/// leaves it (see [`block_jumps`])?
pub(crate) fn form_jumps(form: &Form) -> bool {
    match form {
        Form::If(i) => if_jumps(i),
        Form::Match(m) => m.arms.iter().any(|arm| match arm {
            Arm::Value { body, .. } | Arm::Exception(CatchArm { body, .. }) => body_jumps(body),
        }),
        Form::Try(t) => {
            block_jumps(&t.body)
                || t.catch
                    .as_ref()
                    .is_some_and(|(_, arms)| arms.iter().any(|arm| body_jumps(&arm.body)))
        }
        Form::Block(n) => block_jumps(&n.block),
        Form::For(_) | Form::While(_) | Form::WhileLet(_) | Form::Loop(_) => false,
    }
}

fn if_jumps(i: &If) -> bool {
    block_jumps(&i.then)
        || match &i.els {
            None => false,
            Some(Else::Block(b)) => block_jumps(b),
            Some(Else::If(inner)) => if_jumps(inner),
        }
}

fn body_jumps(body: &Body) -> bool {
    match body {
        Body::Block(b) => block_jumps(b),
        Body::Expr(_) => false,
    }
}

/// Where a block is, for its `break` and `continue` statements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On the path from a loop's body: they may be there.
    Loop,
    /// Not inside a loop of this `lwt!` block.
    Outside,
    /// In a `finally` block inside a loop.
    Finally,
    /// In the value of a `let` inside a loop.
    LetValue,
}

/// Reports every `break` and `continue` statement that is not on a path to a loop, or that is
/// followed by more statements (which would never run), and takes each one it reports out of
/// the tree, so that the tree's expansion type-checks as the block would without them: the
/// fallback after errors expands it, to keep the names the block uses in use (see
/// `expand::fallback`). A misplaced jump that ends its block becomes the block's value,
/// `unreachable!()`, which the expansion types as the promise its context expects (as a `!`
/// tail in Rust); any other is dropped, so the code after it is checked as if it ran. The
/// blocks that held them then expand as the plain blocks they are without them, not as
/// `Promise<Flow>`s. One walk does both, so that what is taken out is exactly what is reported.
pub(crate) fn check(block: &mut Block, errors: &mut Vec<syn::Error>) {
    check_block(block, Place::Outside, errors);
}

fn check_block(block: &mut Block, place: Place, errors: &mut Vec<syn::Error>) {
    let mut i = 0;
    while i < block.stmts.len() {
        if let Stmt::Jump(jump) = &block.stmts[i] {
            let (kind, span) = (jump.kind, jump.span);
            let misplaced = misplaced(place, kind);
            let code_after = block.stmts[i + 1..]
                .iter()
                .any(|s| !matches!(s, Stmt::Plain(Plain::Item(_))))
                || block.tail.is_some();
            let reported = misplaced.is_some() || code_after;
            if let Some(message) = misplaced {
                errors.push(syn::Error::new(span, message));
            }
            if code_after {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "nothing after `{}` in its block would run: it must be the block's \
                         last statement",
                        kind.keyword()
                    ),
                ));
            }
            if reported {
                block.stmts.remove(i);
                if !code_after {
                    let value: syn::Expr = syn::parse_quote_spanned!(span=> ::core::unreachable!());
                    block.tail = Some(Box::new(Tail::Expr(value)));
                }
            } else {
                i += 1;
            }
            continue;
        }
        match &mut block.stmts[i] {
            Stmt::Bind(b) => {
                let value_place = match place {
                    Place::Loop => Place::LetValue,
                    other => other,
                };
                for binding in &mut b.bindings {
                    if let Init::Form(f) = &mut binding.init {
                        check_form(f, value_place, errors);
                    }
                }
                if let Some((_, els)) = &mut b.else_block {
                    check_block(els, place, errors);
                }
            }
            Stmt::Form(f) => check_form(f, place, errors),
            Stmt::Jump(_) | Stmt::Seq(_) | Stmt::Plain(_) | Stmt::Assert(_) => {}
        }
        i += 1;
    }
    if let Some(Tail::Form(f)) = block.tail.as_deref_mut() {
        check_form(f, place, errors);
    }
}

fn check_form(form: &mut Form, place: Place, errors: &mut Vec<syn::Error>) {
    match form {
        Form::If(i) => check_if(i, place, errors),
        Form::Match(m) => {
            for arm in &mut m.arms {
                match arm {
                    Arm::Value { body, .. } | Arm::Exception(CatchArm { body, .. }) => {
                        check_body(body, place, errors)
                    }
                }
            }
        }
        Form::Try(t) => {
            check_block(&mut t.body, place, errors);
            if let Some((_, arms)) = &mut t.catch {
                for arm in arms {
                    check_body(&mut arm.body, place, errors);
                }
            }
            if let Some((_, cleanup)) = &mut t.finally {
                let cleanup_place = match place {
                    Place::Loop => Place::Finally,
                    other => other,
                };
                check_block(cleanup, cleanup_place, errors);
            }
        }
        Form::Block(n) => check_block(&mut n.block, place, errors),
        Form::For(f) => check_block(&mut f.body, Place::Loop, errors),
        Form::While(w) => check_block(&mut w.body, Place::Loop, errors),
        Form::WhileLet(w) => check_block(&mut w.body, Place::Loop, errors),
        Form::Loop(l) => check_block(&mut l.body, Place::Loop, errors),
    }
}

fn check_if(i: &mut If, place: Place, errors: &mut Vec<syn::Error>) {
    check_block(&mut i.then, place, errors);
    match &mut i.els {
        None => {}
        Some(Else::Block(b)) => check_block(b, place, errors),
        Some(Else::If(inner)) => check_if(inner, place, errors),
    }
}

fn check_body(body: &mut Body, place: Place, errors: &mut Vec<syn::Error>) {
    if let Body::Block(b) = body {
        check_block(b, place, errors);
    }
}

/// The error for a `break`/`continue` at `place`, if it cannot be there.
fn misplaced(place: Place, kind: JumpKind) -> Option<String> {
    let keyword = kind.keyword();
    match place {
        Place::Loop => None,
        Place::Outside => Some(format!(
            "`{keyword}` outside of a loop: in `lwt!`, `{keyword}` applies to a `for`, `while`, \
             `while let` or `loop` of the same `lwt!` block"
        )),
        Place::Finally => Some(format!(
            "`{keyword}` cannot leave a `finally` block: the cleanup runs however the `try` \
             body ended, and its value is not the loop's; decide in the `try` body (or in \
             `catch`) instead"
        )),
        Place::LetValue => Some(format!(
            "`{keyword}` in the value of a `let` is not supported in `lwt!`: test before the \
             `let` (`if cond {{ {keyword}; }}`), or bind with `let pattern = promise else \
             {{ {keyword}; }};`"
        )),
    }
}
