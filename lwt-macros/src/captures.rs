//! Rejects assignments that the expansion would silently lose.
//!
//! The body of an `if`, `match`, `try`/`catch`/`finally` or loop becomes a `move` closure, and so
//! does the rest of a nested `{ .. }` block (or `try` body) after its first statement that waits.
//! Such a closure owns a *copy* of each `Copy` variable it captures (a moved-in value for the
//! others), and a loop body that waits runs each iteration on a fresh clone of its closure. An
//! assignment inside to a `let mut` variable of an enclosing block therefore changes that copy
//! only: the code after the form, and the next iteration, still see the old value, and a loop
//! whose condition reads the variable may never end. Rust compiles all of this without a word,
//! so the macro reports it.
//!
//! The walk follows the macro's scopes (`let`, `do let`, loop, arm and catch bindings) and, in the
//! user's Rust code, those of `let` statements, closures, `for` loops, `match` arms and `if let`,
//! so that a name rebound inside the body is not mistaken for the outer one.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::visit::{self, Visit};

use crate::ast::*;

/// Reports every lost assignment in `block`.
pub(crate) fn check(block: &Block, errors: &mut Vec<syn::Error>) {
    let mut walk = Walk {
        env: Vec::new(),
        depth: 0,
        context: TOP,
        carry: None,
        breakable: None,
        whole_statement: None,
        errors,
    };
    walk.block(block, None);
}

/// A name bound by the macro's statements (a `let`, `do let`, or a form's pattern).
struct Local {
    name: String,
    mutable: bool,
    /// How many closure boundaries lie between the top of the block and this binding.
    depth: usize,
}

struct Walk<'e> {
    /// The names in scope, innermost last.
    env: Vec<Local>,
    /// The closure boundaries crossed so far.
    depth: usize,
    /// What the innermost boundary is, for the message: "the body of this `while` loop".
    context: Context,
    /// Set for a nested `lwt!` that is a running-in-place block's value: the block's own names
    /// (from this index of `env`) go with that `lwt!`'s rest.
    carry: Option<usize>,
    /// The innermost `while` loop that a `break;` at this point of the walk would end: the
    /// depth of its body and the assignments that make its condition false (see
    /// [`stopping_assignments`]). `None` where `break;` cannot reach a `while` (in another
    /// loop's body, a `finally` block, a `let`'s value, a nested `lwt!`).
    breakable: Option<(usize, Vec<(String, bool)>)>,
    /// The value of the code walked when it is a whole `do flag = true;` (or `false`)
    /// statement, which `break;` could replace.
    whole_statement: Option<bool>,
    errors: &'e mut Vec<syn::Error>,
}

impl Walk<'_> {
    /// A block of statements. `nested`: the block runs in place (a `{ .. }` statement, a `try`
    /// body) until its first statement that waits, after which its rest is a closure of its own;
    /// `None`: the caller has already entered the closure the block runs in.
    fn block(&mut self, block: &Block, nested: Option<Context>) {
        let saved = (self.env.len(), self.depth, self.context);
        // The rest after the first wait is one chain of continuations: one boundary, however
        // many statements wait after it.
        let carry = self.carry.take();
        let nested = nested.map(|context| (context, saved.1, carry.unwrap_or(saved.0)));
        let n = block.stmts.len();
        for (i, stmt) in block.stmts.iter().enumerate() {
            let last = i + 1 == n && block.tail.is_none();
            self.stmt(stmt, last, nested);
        }
        // In a block still running in place (nothing waited yet), its value runs in place too,
        // and the code after the block reads what it assigns to the enclosing names: a nested
        // `lwt!` or `{ .. }` block there has its rest one closure further in. When it is the
        // whole value, the block's own names go with its rest once it first waits (`carry`: its
        // `waited` moves them too), since nothing after the block can read them; before that
        // wait they are the block's, as in its own code. Any other value is the block's code.
        // Otherwise the block's closure ends with its value.
        let in_place = nested
            .filter(|&(_, start, _)| self.depth == start)
            .map(|(_, _, declared)| declared);
        match (block.tail.as_deref(), in_place) {
            (None, _) => {}
            (Some(Tail::Expr(syn::Expr::Macro(m))), Some(declared)) if is_lwt(&m.mac) => {
                self.carry = Some(declared);
                self.nested_lwt(&m.mac, &[], Some(NESTED_LWT));
                self.carry = None;
            }
            (Some(Tail::Expr(e)), Some(_)) => self.expr(e),
            (Some(Tail::Expr(e)), None) => self.value(e),
            (Some(Tail::Plain(e)), _) => self.expr(e),
            (Some(Tail::Form(f)), Some(declared)) if matches!(**f, Form::Block(_)) => {
                if let Form::Block(b) = &**f {
                    self.carry = Some(declared);
                    self.block(&b.block, Some(NESTED_BLOCK));
                    self.carry = None;
                }
            }
            (Some(Tail::Form(f)), _) => self.form(f),
        }
        self.env.truncate(saved.0);
        (self.depth, self.context) = (saved.1, saved.2);
    }

    /// After a statement that waits, the rest of a nested block (which started at `start`) is a
    /// closure.
    fn waited(&mut self, nested: Option<(Context, usize, usize)>) {
        if let Some((context, start, declared)) = nested {
            if self.depth == start {
                self.depth += 1;
                self.context = context;
                // The block's own variables, declared before the wait, move into the rest's
                // closure with it: assigning them there is straight-line code, not lost.
                for local in &mut self.env[declared..] {
                    local.depth = self.depth;
                }
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt, last: bool, nested: Option<(Context, usize, usize)>) {
        match stmt {
            Stmt::Plain(Plain::Item(_)) => {}
            Stmt::Plain(Plain::Stmt(syn::Stmt::Local(local))) => {
                if let Some(init) = &local.init {
                    self.expr(&init.expr);
                    if let Some((_, diverge)) = &init.diverge {
                        self.expr(diverge);
                    }
                }
                self.declare(&local.pat);
            }
            Stmt::Plain(Plain::Stmt(s)) => {
                self.whole_statement = match s {
                    syn::Stmt::Expr(syn::Expr::Assign(a), _)
                        if matches!(&*a.left, syn::Expr::Path(_)) =>
                    {
                        match &*a.right {
                            syn::Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Bool(b),
                                ..
                            }) => Some(b.value),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                self.rust(|v| v.visit_stmt(s));
                self.whole_statement = None;
            }
            Stmt::Bind(b) => {
                for binding in &b.bindings {
                    match &binding.init {
                        Init::Expr(e) => self.expr(e),
                        Init::Form(f) => self.unbreakable(|w| w.form(f)),
                    }
                }
                self.waited(nested);
                if let Some((_, els)) = &b.else_block {
                    // The `else` block ends the block (its promise replaces the rest): it runs
                    // in the same chain of continuations as the rest, and nothing after it in
                    // this block can read what it assigns.
                    self.block(els, None);
                }
                for binding in &b.bindings {
                    self.declare(&binding.pat);
                }
            }
            Stmt::Seq(e) => {
                self.expr(e);
                if !last {
                    self.waited(nested);
                }
            }
            Stmt::Form(f) => {
                self.form(f);
                if !last {
                    self.waited(nested);
                }
            }
            Stmt::Assert(a) => {
                for e in a.operands.iter().chain(&a.message) {
                    self.expr(e);
                }
                if !last {
                    self.waited(nested);
                }
            }
            // Reads and assigns nothing, and ends its block.
            Stmt::Jump(_) => {}
        }
    }

    fn form(&mut self, form: &Form) {
        match form {
            Form::If(i) => self.if_form(i),
            Form::Match(m) => {
                self.expr(&m.expr);
                for arm in &m.arms {
                    match arm {
                        Arm::Value {
                            pat, guard, body, ..
                        } => self.inside(MATCH_ARM, |w| {
                            w.declare(pat);
                            if let Some(g) = guard {
                                w.expr(g);
                            }
                            w.body(body);
                        }),
                        Arm::Exception(c) => self.inside(MATCH_ARM, |w| w.catch_arm(c)),
                    }
                }
            }
            Form::Try(t) => {
                self.block(&t.body, Some(TRY_BODY));
                for arm in t.catch.iter().flat_map(|(_, arms)| arms) {
                    self.inside(CATCH_ARM, |w| w.catch_arm(arm));
                }
                if let Some((_, cleanup)) = &t.finally {
                    self.unbreakable(|w| w.inside(FINALLY, |w| w.block(cleanup, None)));
                }
            }
            Form::For(f) => {
                self.expr(&f.expr);
                self.unbreakable(|w| {
                    w.inside(FOR, |w| {
                        w.declare(&f.pat);
                        w.block(&f.body, None);
                    })
                });
            }
            Form::While(l) => self.inside(WHILE, |w| {
                w.expr(&l.cond);
                let saved = w
                    .breakable
                    .replace((w.depth, stopping_assignments(&l.cond, false)));
                w.block(&l.body, None);
                w.breakable = saved;
            }),
            Form::WhileLet(l) => self.unbreakable(|w| {
                w.inside(WHILE, |w| {
                    w.expr(&l.expr);
                    w.declare(&l.pat);
                    if let Some((_, rest)) = &l.chain {
                        w.chain(rest);
                    }
                    w.block(&l.body, None);
                })
            }),
            Form::Loop(l) => self.unbreakable(|w| w.inside(LOOP, |w| w.block(&l.body, None))),
            Form::Block(b) => self.block(&b.block, Some(NESTED_BLOCK)),
        }
    }

    fn if_form(&mut self, i: &If) {
        let (pat, chain) = match &i.cond {
            IfCond::Expr(e) => {
                self.expr(e);
                (None, None)
            }
            IfCond::Let(pat, e, chain) => {
                self.expr(e);
                (Some(pat), chain.as_ref().map(|(_, rest)| rest))
            }
        };
        self.inside(IF, |w| {
            if let Some(pat) = pat {
                w.declare(pat);
            }
            if let Some(rest) = chain {
                w.chain(rest);
            }
            w.block(&i.then, None);
        });
        match &i.els {
            None => {}
            Some(Else::Block(b)) => self.inside(IF, |w| w.block(b, None)),
            // The inner condition is evaluated in the outer `if`'s closure.
            Some(Else::If(inner)) => self.inside(IF, |w| w.if_form(inner)),
        }
    }

    fn catch_arm(&mut self, arm: &CatchArm) {
        if let CatchBinding::Ident(mutability, e) = &arm.binding {
            self.env.push(Local {
                name: e.unraw().to_string(),
                mutable: mutability.is_some(),
                depth: self.depth,
            });
        }
        if let Some(g) = &arm.guard {
            self.expr(g);
        }
        self.body(&arm.body);
    }

    fn body(&mut self, body: &Body) {
        match body {
            Body::Block(b) => self.block(b, None),
            Body::Expr(e) => self.value(e),
        }
    }

    /// The value a closure ends with (an arm's body, a block's last expression). A nested
    /// `lwt!` there runs as the rest of that closure: after its waits, its continuations take
    /// the closure's own names with them, and nothing after it reads them, so assigning them
    /// there loses nothing (as in the closure's own code).
    fn value(&mut self, e: &syn::Expr) {
        match e {
            syn::Expr::Macro(m) if is_lwt(&m.mac) => self.nested_lwt(&m.mac, &[], None),
            _ => self.expr(e),
        }
    }

    /// A nested `lwt! { .. }`: it runs in place, as a `{ .. }` block of the macro does, until
    /// its first statement that waits, and the rest is a closure (`nested`: its context), or,
    /// as a closure's value (`None`), the rest of that closure. An assignment there to a
    /// `let mut` of the enclosing `lwt!` is lost as it would be in the enclosing block itself,
    /// and only this walk can see it (the nested macro does not know the enclosing one's
    /// names). Its own names are reported here too, with the same verdict its own expansion
    /// would give (their depths relative to their assignments are the same in both walks), so
    /// one round of errors has them all; and never twice, since a macro that reports an error
    /// expands to a placeholder, without the nested one. `shadowed`: the names the user's code
    /// bound around it, which hide the enclosing block's. Input it cannot parse is left to the
    /// nested macro's own errors.
    fn nested_lwt(&mut self, m: &syn::Macro, shadowed: &[String], nested: Option<Context>) {
        let mut ignored = Vec::new();
        let block = crate::parse::parse_top(m.tokens.clone(), &mut ignored);
        if !ignored.is_empty() {
            return;
        }
        let saved = self.env.len();
        let depth = self.depth;
        self.env.extend(shadowed.iter().map(|name| Local {
            name: name.clone(),
            mutable: false,
            depth,
        }));
        self.unbreakable(|w| w.block(&block, nested));
        self.env.truncate(saved);
    }

    /// Runs `f` where a `break;` cannot end the enclosing `while` loop.
    fn unbreakable(&mut self, f: impl FnOnce(&mut Self)) {
        let saved = self.breakable.take();
        f(self);
        self.breakable = saved;
    }

    /// Runs `f` one closure boundary further in; the names it declares end with it.
    fn inside(&mut self, context: Context, f: impl FnOnce(&mut Self)) {
        let saved = (self.env.len(), self.depth, self.context);
        self.depth += 1;
        self.context = context;
        f(self);
        self.env.truncate(saved.0);
        (self.depth, self.context) = (saved.1, saved.2);
    }

    fn declare(&mut self, pat: &syn::Pat) {
        let depth = self.depth;
        let mut names = Vec::new();
        bound_names(pat, &mut names);
        self.env
            .extend(names.into_iter().map(|(name, mutable)| Local {
                name,
                mutable,
                depth,
            }));
    }

    fn expr(&mut self, e: &syn::Expr) {
        self.rust(|v| v.visit_expr(e));
    }

    /// The rest of a let chain (`&& n > 1 && let Some(m) = q`): its `let`s bind names for the
    /// body, as the chain's first pattern does, which hide the enclosing block's.
    fn chain(&mut self, rest: &syn::Expr) {
        self.expr(rest);
        let mut e = rest;
        let mut lets = Vec::new();
        loop {
            match e {
                syn::Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
                    if let syn::Expr::Let(l) = &*b.right {
                        lets.push(&*l.pat);
                    }
                    e = &b.left;
                }
                syn::Expr::Let(l) => {
                    lets.push(&*l.pat);
                    break;
                }
                _ => break,
            }
        }
        for pat in lets.into_iter().rev() {
            self.declare(pat);
        }
    }

    /// Walks the user's Rust code with `f`.
    fn rust(&mut self, f: impl FnOnce(&mut Assignments<'_, '_>)) {
        let mut visitor = Assignments {
            walk: self,
            shadowed: Vec::new(),
        };
        f(&mut visitor);
    }

    /// An assignment to `name`, at `span`: is it to a variable of an enclosing closure?
    fn assigned(&mut self, name: &syn::Ident) {
        let text = name.unraw().to_string();
        let Some(local) = self.env.iter().rev().find(|l| l.name == text) else {
            // Declared outside the macro (a parameter, a variable of the function), or by a
            // macro the walk does not read: the macro cannot tell what it is, nor whether code
            // after the form reads it (a branch that reads what it assigned is right, and
            // rustc warns "value captured by `n` is never read" when nothing does), so it is
            // left to rustc.
            return;
        };
        if local.mutable && local.depth < self.depth {
            // A flag of the loop's condition, set by a statement of its body to the value that
            // stops the loop: what the loop wants is `break;`, which the macro supports there.
            // (Set to the value that keeps it going, `do again = true;` in `while again`, it is
            // no end of the loop.)
            let ends_loop = self.whole_statement.is_some_and(|value| {
                self.breakable.as_ref().is_some_and(|(depth, stops)| {
                    local.depth < *depth && stops.iter().any(|(n, v)| *n == text && *v == value)
                })
            });
            let lost = Lost {
                name: &text,
                context: self.context,
                set_to: self.whole_statement,
                ends_loop,
            };
            self.errors.push(lost_assignment(name.span(), lost));
        }
    }
}

/// Is `m` a call of `lwt!` (by any path: `lwt!`, `lwt::lwt!`)?
fn is_lwt(m: &syn::Macro) -> bool {
    m.path.segments.last().is_some_and(|s| s.ident == "lwt")
}

/// A closure boundary, for the message.
#[derive(Clone, Copy)]
struct Context {
    /// What runs in the closure: "a branch of this `if`".
    what: &'static str,
    /// Is it a loop body, run once per iteration?
    looped: bool,
}

const TOP: Context = Context {
    what: "",
    looped: false,
};
const IF: Context = Context {
    what: "a branch of this `if`",
    looped: false,
};
const MATCH_ARM: Context = Context {
    what: "an arm of this `match`",
    looped: false,
};
const CATCH_ARM: Context = Context {
    what: "an arm of this `catch`",
    looped: false,
};
const FINALLY: Context = Context {
    what: "this `finally` block",
    looped: false,
};
const FOR: Context = Context {
    what: "the body of this `for` loop",
    looped: true,
};
const WHILE: Context = Context {
    what: "the body of this `while` loop",
    looped: true,
};
const LOOP: Context = Context {
    what: "the body of this `loop`",
    looped: true,
};
const TRY_BODY: Context = Context {
    what: "the rest of this `try` body after its first `let` (or other statement that waits)",
    looped: false,
};
const NESTED_BLOCK: Context = Context {
    what: "the rest of this `{ .. }` block after its first `let` (or other statement that waits)",
    looped: false,
};

const NESTED_LWT: Context = Context {
    what: "the rest of this nested `lwt!` block after its first `let` (or other statement that \
           waits)",
    looped: false,
};

/// A lost assignment, for its message.
struct Lost<'a> {
    name: &'a str,
    context: Context,
    /// The `bool` a whole `do name = true;` (or `false`) statement sets: the examples of the
    /// advice then set that value (a counter's `+ 1` would not compile for a flag).
    set_to: Option<bool>,
    /// Does that value end the enclosing `while` loop (see `Walk::breakable`)?
    ends_loop: bool,
}

fn lost_assignment(span: Span, lost: Lost<'_>) -> syn::Error {
    let Lost {
        name,
        context,
        set_to,
        ends_loop,
    } = lost;
    let (after, instead) = if context.looped {
        let (shared, set) = match set_to {
            Some(value) => ("flag", format!("flag.set({value})")),
            None => ("counter", "counter.set(counter.get() + 1)".to_string()),
        };
        (
            "the code after the loop (and, when the body waits, the next iteration)",
            format!(
                "keep the state in a cell that the closures share: `do let {name} = \
                 Rc::new(Cell::new(..));` before the loop, a clone of the `Rc` for the loop \
                 (`do let {shared} = {name}.clone();`), and `do {set};` in the body"
            ),
        )
    } else {
        let new_value = match set_to {
            Some(value) => value.to_string(),
            None => format!("{name} + 1"),
        };
        (
            "the code after the form",
            format!(
                "make the form produce the new value and bind it (`let {name} = if c {{ \
                 lwt::ret({new_value}) }} else {{ lwt::ret({name}) }};`), or keep the state in \
                 an `Rc<Cell<_>>` that the closures share"
            ),
        )
    };
    syn::Error::new(
        span,
        format!(
            "this assignment to `{name}` would be lost: `{name}` is a `let mut` variable \
             declared outside {what}, which runs in a `move` closure with its own copy of it, \
             so {after} would still see the old value; {instead}{brk}",
            what = context.what,
            brk = if ends_loop {
                format!(
                    "; or, as `{name}` is the condition of the enclosing `while` loop, end the \
                     loop with `break;` instead of this assignment"
                )
            } else {
                String::new()
            },
        ),
    )
}

/// The assignments `name = value` of one variable that make the boolean expression `e` equal
/// `want` whatever the rest of it is: `running` is false after `running = false`, `!done`
/// after `done = true`, `a && b` after either of `a`'s or `b`'s, `a || b` (for `true`) likewise.
/// Any other expression (a call, a comparison) gives none: the macro cannot tell what an
/// assignment does to it.
fn stopping_assignments(e: &syn::Expr, want: bool) -> Vec<(String, bool)> {
    match e {
        syn::Expr::Paren(syn::ExprParen { expr, .. })
        | syn::Expr::Group(syn::ExprGroup { expr, .. }) => stopping_assignments(expr, want),
        syn::Expr::Path(p) if p.qself.is_none() => p
            .path
            .get_ident()
            .map(|name| vec![(name.unraw().to_string(), want)])
            .unwrap_or_default(),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            expr,
            ..
        }) => stopping_assignments(expr, !want),
        syn::Expr::Binary(syn::ExprBinary {
            left, op, right, ..
        }) if matches!(
            (op, want),
            (syn::BinOp::And(_), false) | (syn::BinOp::Or(_), true)
        ) =>
        {
            let mut both = stopping_assignments(left, want);
            both.extend(stopping_assignments(right, want));
            both
        }
        _ => Vec::new(),
    }
}

/// The names a pattern binds, with their `mut`.
fn bound_names(pat: &syn::Pat, out: &mut Vec<(String, bool)>) {
    struct Names<'o>(&'o mut Vec<(String, bool)>);
    impl<'ast> Visit<'ast> for Names<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            // Without `r#`: `r#count` and `count` are one name.
            self.0
                .push((p.ident.unraw().to_string(), p.mutability.is_some()));
            visit::visit_pat_ident(self, p);
        }
        // Paths and constants in a pattern bind nothing; expressions in it (array lengths,
        // const blocks) are not patterns.
        fn visit_expr(&mut self, _: &'ast syn::Expr) {}
    }
    Names(out).visit_pat(pat);
}

/// Finds assignments in the user's Rust code, following its own scopes.
struct Assignments<'w, 'e> {
    walk: &'w mut Walk<'e>,
    /// Names bound inside the code walked so far (innermost last): they hide the macro's.
    shadowed: Vec<String>,
}

impl Assignments<'_, '_> {
    fn bind(&mut self, pat: &syn::Pat) {
        let mut names = Vec::new();
        bound_names(pat, &mut names);
        self.shadowed
            .extend(names.into_iter().map(|(name, _)| name));
    }

    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        let mark = self.shadowed.len();
        f(self);
        self.shadowed.truncate(mark);
    }

    /// The variable a place expression writes to: `x`, `x.field`, `x[i]`, `x.0`. Writes through
    /// a dereference (`*x = ..`) reach the pointee, which the closure shares.
    fn assigned(&mut self, place: &syn::Expr) {
        let root = match place {
            syn::Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
            syn::Expr::Field(f) => return self.assigned(&f.base),
            syn::Expr::Index(i) => return self.assigned(&i.expr),
            syn::Expr::Paren(p) => return self.assigned(&p.expr),
            // Destructuring assignments: `(a, b) = ..`, `[a, b] = ..`, `S { x: a } = ..`,
            // `S(a, b) = ..`.
            syn::Expr::Tuple(t) => return t.elems.iter().for_each(|e| self.assigned(e)),
            syn::Expr::Array(a) => return a.elems.iter().for_each(|e| self.assigned(e)),
            syn::Expr::Call(c) => return c.args.iter().for_each(|e| self.assigned(e)),
            syn::Expr::Struct(s) => return s.fields.iter().for_each(|f| self.assigned(&f.expr)),
            _ => None,
        };
        if let Some(name) = root {
            if !self.shadowed.iter().any(|s| name.unraw() == s) {
                self.walk.assigned(name);
            }
        }
    }
}

impl Assignments<'_, '_> {
    /// A nested `lwt! { .. }` met in the user's code (see [`Walk::nested_lwt`]).
    fn nested_lwt(&mut self, m: &syn::Macro) {
        let shadowed = std::mem::take(&mut self.shadowed);
        self.walk.nested_lwt(m, &shadowed, Some(NESTED_LWT));
        self.shadowed = shadowed;
    }
}

impl<'ast> Visit<'ast> for Assignments<'_, '_> {
    // Items are their own scopes: they cannot see the block's variables.
    fn visit_item(&mut self, _: &'ast syn::Item) {}

    // The arguments of the standard macros that take expressions (`println!("{}", { n += 1; n })`),
    // and a nested `lwt!` block.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if is_lwt(m) {
            return self.nested_lwt(m);
        }
        if let Some(args) = crate::check::std_macro_args(m) {
            for arg in &args {
                match arg {
                    // A named format argument (`println!("{x}", x = v)`) assigns nothing.
                    syn::Expr::Assign(named) if matches!(&*named.left, syn::Expr::Path(_)) => {
                        self.visit_expr(&named.right)
                    }
                    _ => self.visit_expr(arg),
                }
            }
        }
    }

    fn visit_expr_assign(&mut self, e: &'ast syn::ExprAssign) {
        self.assigned(&e.left);
        // Only the statement's own assignment is whole, not one in its value.
        self.walk.whole_statement = None;
        visit::visit_expr_assign(self, e);
    }

    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
        if matches!(
            e.op,
            AddAssign(_)
                | SubAssign(_)
                | MulAssign(_)
                | DivAssign(_)
                | RemAssign(_)
                | BitXorAssign(_)
                | BitAndAssign(_)
                | BitOrAssign(_)
                | ShlAssign(_)
                | ShrAssign(_)
        ) {
            self.assigned(&e.left);
        }
        visit::visit_expr_binary(self, e);
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.scoped(|v| visit::visit_block(v, b));
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        // The initializer does not see the names its `let` binds.
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.bind(&l.pat);
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.scoped(|v| {
            for input in &c.inputs {
                v.bind(input);
            }
            v.visit_expr(&c.body);
        });
    }

    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.scoped(|v| {
            v.bind(&f.pat);
            v.visit_block(&f.body);
        });
    }

    fn visit_expr_match(&mut self, m: &'ast syn::ExprMatch) {
        self.visit_expr(&m.expr);
        for arm in &m.arms {
            self.scoped(|v| {
                v.bind(&arm.pat);
                if let Some((_, guard)) = &arm.guard {
                    v.visit_expr(guard);
                }
                v.visit_expr(&arm.body);
            });
        }
    }

    // `if let` and `while let`: the names of the condition's patterns reach the body only.
    fn visit_expr_if(&mut self, i: &'ast syn::ExprIf) {
        self.scoped(|v| {
            v.visit_expr(&i.cond);
            v.visit_block(&i.then_branch);
        });
        if let Some((_, els)) = &i.else_branch {
            self.visit_expr(els);
        }
    }

    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.scoped(|v| {
            v.visit_expr(&w.cond);
            v.visit_block(&w.body);
        });
    }

    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        self.visit_expr(&l.expr);
        self.bind(&l.pat);
    }
}
