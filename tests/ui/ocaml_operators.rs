// OCaml's operators in an `lwt!` block: syn stopped at them with "expected an expression" or
// "expected `=>`", often a token later. Each is named, with its Rust spelling.
use lwt::{lwt, ret, Promise};
use std::cell::Cell;

mod util {
    pub fn one() -> lwt::Promise<u32> {
        lwt::ret(1)
    }
}

fn ok(x: u32) -> bool {
    x > 0
}

fn inequality_in_a_guard(p: Promise<Option<u32>>) -> Promise<u32> {
    lwt! {
        match p {
            Some(x) if x <> 1 => ret(x),
            _ => ret(0),
        }
    }
}

fn inequality_in_a_condition(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if x <> 1 { ret(x) } else { ret(0) }
    }
}

fn inequality_in_a_catch_guard(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        try { p } catch { e: lwt::Failure if e.0 <> "x" => ret(0), }
    }
}

fn inequality_in_a_call(p: Promise<Vec<u32>>) -> Promise<bool> {
    lwt! {
        let v = p;
        ret(v.len() <> 2)
    }
}

fn negation(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if not ok(x) { ret(x) } else { ret(0) }
    }
}

fn word_operators(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        let y = ret(x mod 2);
        let z = ret(x land 3);
        ret(y lsl z)
    }
}

fn ref_assignment(r: Cell<u32>) -> Promise<u32> {
    lwt! {
        do r := 2;
        ret(r.get())
    }
}

fn anonymous_function(xs: Vec<u32>) -> Promise<()> {
    lwt! {
        lwt::list::iter_s(fun x -> ret(()), xs)
    }
}

fn anonymous_function_of_patterns(xs: Vec<(u32, u32)>) -> Promise<()> {
    lwt! {
        lwt::list::iter_s(fun (_, _) -> ret(()), xs);
        lwt::list::iter_s(fun _ -> ret(()), vec![1])
    }
}

fn infix_operators(p: Promise<u32>, a: Promise<()>, b: Promise<()>) -> Promise<u32> {
    lwt! {
        let () = a <&> b;
        let () = a <?> b;
        p >|= |x| x + 1
    }
}

fn list() -> Promise<Vec<u32>> {
    lwt! {
        ret([1; 2; 3].to_vec())
    }
}

/// Reported beside another mistake too (rev113: the list was lost when a statement failed).
fn list_beside_another_mistake(x: u32) -> Promise<Vec<u32>> {
    lwt! {
        do let y = ok(x x);
        ret([1; 2; 3].to_vec())
    }
}

fn application_in_plain_code(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        do print_endline "x";
        ret(x)
    }
}

fn qualified_application() -> Promise<()> {
    lwt! {
        Lwt_unix.sleep 0.5
    }
}

fn lwt_async() -> Promise<()> {
    lwt! {
        do Lwt.async(|| ret(()));
        ret(())
    }
}

fn more_ocaml(x: f64, s: String, xs: Vec<u32>) -> Promise<u32> {
    lwt! {
        do let y = x +. 1.0;
        do let c = s.[0];
        do let n = xs |> List.length;
        (* the answer *)
        do let z = Array.make 3 0;
        failwith "boom"
    }
}

fn equality_in_parentheses(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if (x = 1) { ret(x) } else { ret(0) }
    }
}

fn local_open() -> Promise<u32> {
    lwt! {
        let x = util.(one());
        ret(x)
    }
}

fn local_open_of_lwt_module() -> Promise<u32> {
    lwt! {
        let x = Lwt_io.(util::one());
        ret(x)
    }
}

fn equality_as_condition(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        if x = 1 { ret(x) } else { ret(0) }
    }
}

fn equality_as_loop_condition(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let x = p;
        while x = 1 {
            do ();
        }
        ret(x)
    }
}

fn function_matching_its_argument(xs: Vec<Option<u32>>) -> Promise<()> {
    lwt! {
        let () = lwt::list::iter_s(function | Some x -> ret(()) | None -> ret(()), xs);
        ret(())
    }
}

fn main() {}
