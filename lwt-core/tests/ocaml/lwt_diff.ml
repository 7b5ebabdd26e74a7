(* The OCaml side of lwt-core's differential test (tests/ocaml_diff.rs): an interpreter that runs
   straight-line programs over a pool of int promises on real Lwt and prints the final state of
   every slot of the pool and the continuations that ran.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff.ml -o lwt_diff
   (ocaml_diff.rs does it). Input, on stdin, any number of programs:

     prog <slots>
     <one operation per line>
     end

   Output, per program: "T <state>..." after every operation (the states of all slots, with ':'
   for ' '), "S <slot> <state>" for every slot, "L <label> <seen>" for every
   continuation that ran, then "done". A state is "X" (never created), "P" (pending), "F <v>",
   "R C" (Canceled), "R <n>" (Fail n) or "R ?<text>" (anything else). <seen> is "ok <v>",
   "err <C|n|?>" or "-" (finalize's cleanup takes nothing). An exception escaping an operation is
   printed as "E <text>" and ends the program.

   Operations (d: the slot the result goes to, s: a slot, L: a label, C: a continuation, written
   "v <value>" (return it), "f <n>" (fail with Fail n), "e <slot>" (return that slot's promise) or
   "w <slot>" / "t <slot>" (a fresh wait () / task (), stored in that slot with its resolver);
   the letter may be followed by an action the continuation does first, "/WU.<slot>.<v>",
   "/WE.<slot>.<n>", "/LU.<slot>.<v>" or "/LE.<slot>.<n>" (wakeup, wakeup_exn, wakeup_later,
   wakeup_later_exn of that slot's resolver, if it is there and unused)):

     W d | T d | R d v | F d n                      wait, task, return, fail
     B d s L C | M d s L add | C d s L C            bind, map (v + add), catch
     TB d s L C L' C' | FZ d s L C                  try_bind, finalize (C as a unit promise)
     BOTH d a b | J d k s1..sk | A d k s1..sk       both, join (of the inputs mapped to ()), all
     CH d k ... | PK d k ... | NC d k ... | NP d k ...   choose, pick, nchoose, npick
     NS d k ...                                     nchoose_split: d gets combine fulfilled * 7
                                                    + the number pending, and the pending
                                                    inputs go to slots d+1, d+2... in its order
     PR d s | NX d s | WC d s                       protected, no_cancel, wrap_in_cancelable
     X s | WU s v | WE s n | LU s v | LE s n        cancel, wakeup, wakeup_exn, wakeup_later(_exn)
     O s L k                                        an observer that logs: on_success (k = s),
                                                    on_failure (f), on_any (a),
                                                    on_termination (t), on_cancel (c)

   An operation naming a slot that holds no promise (yet) is skipped, as is a combinator whose
   inputs all are; a wakeup with a resolver already used (or none) is skipped. Lists are folded to
   one int by [combine], values are kept below [md] so that both sides compute the same numbers. *)

exception Fail of int

let md = 1_000_003

let combine l = List.fold_left (fun acc v -> ((acc * 131) + v) mod md) 7 l

let slots : int Lwt.t option array ref = ref [||]

let resolvers : int Lwt.u option array ref = ref [||]

let log : string list ref = ref []

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let seen_ok v = "ok " ^ string_of_int v

let seen_err e = "err " ^ exn_text e

let note label seen = log := Printf.sprintf "L %d %s" label seen :: !log

let get i =
  if i >= 0 && i < Array.length !slots then !slots.(i) else None

let set i p = !slots.(i) <- Some p

let fresh i is_task =
  let p, r = if is_task then Lwt.task () else Lwt.wait () in
  !slots.(i) <- Some p;
  !resolvers.(i) <- Some r;
  p

type ret = V of int | Fl of int | Ex of int | Fw of int | Ft of int

(* What a continuation does before it returns. *)
type act = No_act | Act of string * int * int

let resolve s f =
  match !resolvers.(s) with
  | Some r ->
      !resolvers.(s) <- None;
      f r
  | None -> ()

let act = function
  | No_act -> ()
  | Act ("WU", s, v) -> resolve s (fun r -> Lwt.wakeup r v)
  | Act ("WE", s, n) -> resolve s (fun r -> Lwt.wakeup_exn r (Fail n))
  | Act ("LU", s, v) -> resolve s (fun r -> Lwt.wakeup_later r v)
  | Act ("LE", s, n) -> resolve s (fun r -> Lwt.wakeup_later_exn r (Fail n))
  | Act (k, _, _) -> failwith ("bad action " ^ k)

(* What a continuation returns. *)
let ret = function
  | V v -> Lwt.return v
  | Fl n -> Lwt.fail (Fail n)
  | Ex i -> (match get i with Some p -> p | None -> Lwt.return 0)
  | Fw i -> fresh i false
  | Ft i -> fresh i true

let result (a, r) = act a; ret r

(* The same, as finalize's cleanup. *)
let unit_ret = function
  | V _ -> Lwt.return_unit
  | Fl n -> Lwt.fail (Fail n)
  | Ex i -> (match get i with Some p -> Lwt.map ignore p | None -> Lwt.return_unit)
  | Fw i -> Lwt.map ignore (fresh i false)
  | Ft i -> Lwt.map ignore (fresh i true)

let unit_result (a, r) = act a; unit_ret r

(* "<kind>[/<action>.<slot>.<n>] <n>" *)
let cont_of a b =
  let n = int_of_string b in
  let kind, action =
    match String.split_on_char '/' a with
    | [ k ] -> (k, No_act)
    | [ k; x ] -> (
        match String.split_on_char '.' x with
        | [ f; s; v ] -> (k, Act (f, int_of_string s, int_of_string v))
        | _ -> failwith ("bad action " ^ x))
    | _ -> failwith ("bad continuation " ^ a)
  in
  let r =
    match kind with
    | "v" -> V n
    | "f" -> Fl n
    | "e" -> Ex n
    | "w" -> Fw n
    | "t" -> Ft n
    | _ -> failwith ("bad continuation " ^ a)
  in
  (action, r)

let op words =
  let i = int_of_string in
  let with_src d s f = match get (i s) with Some p -> set (i d) (f p) | None -> () in
  let inputs k rest = List.filter_map (fun s -> get (i s)) (List.filteri (fun j _ -> j < i k) rest) in
  let comb d k rest f =
    match inputs k rest with [] -> () | ps -> set (i d) (f ps)
  in
  match words with
  | [ "W"; d ] -> ignore (fresh (i d) false)
  | [ "T"; d ] -> ignore (fresh (i d) true)
  | [ "R"; d; v ] -> set (i d) (Lwt.return (i v))
  | [ "F"; d; n ] -> set (i d) (Lwt.fail (Fail (i n)))
  | [ "B"; d; s; l; a; b ] ->
      let c = cont_of a b in
      with_src d s (fun p -> Lwt.bind p (fun v -> note (i l) (seen_ok v); result c))
  | [ "M"; d; s; l; add ] ->
      with_src d s (fun p -> Lwt.map (fun v -> note (i l) (seen_ok v); (v + i add) mod md) p)
  | [ "C"; d; s; l; a; b ] ->
      let c = cont_of a b in
      with_src d s (fun p -> Lwt.catch (fun () -> p) (fun e -> note (i l) (seen_err e); result c))
  | [ "TB"; d; s; l; a; b; l'; a'; b' ] ->
      let c = cont_of a b and c' = cont_of a' b' in
      with_src d s (fun p ->
          Lwt.try_bind
            (fun () -> p)
            (fun v -> note (i l) (seen_ok v); result c)
            (fun e -> note (i l') (seen_err e); result c'))
  | [ "FZ"; d; s; l; a; b ] ->
      let c = cont_of a b in
      with_src d s (fun p -> Lwt.finalize (fun () -> p) (fun () -> note (i l) "-"; unit_result c))
  | [ "BOTH"; d; a; b ] -> (
      match (get (i a), get (i b)) with
      | Some pa, Some pb -> set (i d) (Lwt.map (fun (x, y) -> combine [ x; y ]) (Lwt.both pa pb))
      | _ -> ())
  | "J" :: d :: k :: rest ->
      comb d k rest (fun ps -> Lwt.map (fun () -> 0) (Lwt.join (List.map (Lwt.map ignore) ps)))
  | "A" :: d :: k :: rest -> comb d k rest (fun ps -> Lwt.map combine (Lwt.all ps))
  | "CH" :: d :: k :: rest -> comb d k rest Lwt.choose
  | "PK" :: d :: k :: rest -> comb d k rest Lwt.pick
  | "NC" :: d :: k :: rest -> comb d k rest (fun ps -> Lwt.map combine (Lwt.nchoose ps))
  | "NP" :: d :: k :: rest -> comb d k rest (fun ps -> Lwt.map combine (Lwt.npick ps))
  | "NS" :: d :: k :: rest ->
      comb d k rest (fun ps ->
          Lwt.map
            (fun (vs, pending) ->
              List.iteri (fun j q -> set (i d + 1 + j) q) pending;
              ((combine vs * 7) + List.length pending) mod md)
            (Lwt.nchoose_split ps))
  | [ "PR"; d; s ] -> with_src d s Lwt.protected
  | [ "NX"; d; s ] -> with_src d s Lwt.no_cancel
  | [ "WC"; d; s ] -> with_src d s Lwt.wrap_in_cancelable
  | [ "O"; s; l; k ] -> (
      match get (i s) with
      | None -> ()
      | Some p -> (
          let l = i l in
          match k with
          | "s" -> Lwt.on_success p (fun v -> note l (seen_ok v))
          | "f" -> Lwt.on_failure p (fun e -> note l (seen_err e))
          | "a" -> Lwt.on_any p (fun v -> note l (seen_ok v)) (fun e -> note l (seen_err e))
          | "t" -> Lwt.on_termination p (fun () -> note l "-")
          | "c" -> Lwt.on_cancel p (fun () -> note l "-")
          | _ -> failwith ("bad observer " ^ k)))
  | [ "X"; s ] -> (match get (i s) with Some p -> Lwt.cancel p | None -> ())
  | [ "WU"; s; v ] -> resolve (i s) (fun r -> Lwt.wakeup r (i v))
  | [ "WE"; s; n ] -> resolve (i s) (fun r -> Lwt.wakeup_exn r (Fail (i n)))
  | [ "LU"; s; v ] -> resolve (i s) (fun r -> Lwt.wakeup_later r (i v))
  | [ "LE"; s; n ] -> resolve (i s) (fun r -> Lwt.wakeup_later_exn r (Fail (i n)))
  | _ -> failwith ("bad operation: " ^ String.concat " " words)

let state_text = function
  | None -> "X"
  | Some p -> (
      match Lwt.state p with
      | Lwt.Sleep -> "P"
      | Lwt.Return v -> "F " ^ string_of_int v
      | Lwt.Fail e -> "R " ^ exn_text e)

let words line = List.filter (fun w -> w <> "") (String.split_on_char ' ' (String.trim line))

let run_program n ops =
  slots := Array.make n None;
  resolvers := Array.make n None;
  log := [];
  let escaped =
    try
      List.iter
        (fun o ->
          op o;
          print_string "T";
          Array.iter (fun p -> print_string (" " ^ String.map (fun c -> if c = ' ' then ':' else c) (state_text p))) !slots;
          print_newline ())
        ops;
      None
    with e -> Some (Printexc.to_string e)
  in
  Array.iteri (fun j p -> Printf.printf "S %d %s\n" j (state_text p)) !slots;
  List.iter print_endline (List.rev !log);
  (match escaped with Some e -> Printf.printf "E %s\n" e | None -> ());
  print_endline "done";
  (* Drop the pool before the next program (resolvers are never used again). *)
  slots := [||];
  resolvers := [||]

let () =
  let rec loop () =
    match input_line stdin with
    | exception End_of_file -> ()
    | line -> (
        match words line with
        | [ "prog"; n ] ->
            let rec body acc =
              match words (input_line stdin) with
              | [ "end" ] -> List.rev acc
              | [] -> body acc
              | w -> body (w :: acc)
            in
            run_program (int_of_string n) (body []);
            loop ()
        | [] -> loop ()
        | _ -> failwith ("expected prog, got: " ^ line))
  in
  loop ()
