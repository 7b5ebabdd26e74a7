(* The OCaml side of lwt-core's differential test of Lwt_seq (tests/ocaml_diff_seq.rs): an
   interpreter that runs straight-line programs building sequence pipelines over a pool of int
   promises on real Lwt, and prints the state of every slot of the pool after every operation
   and every callback call.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff_seq.ml -o lwt_diff_seq
   (ocaml_diff_seq.rs does it). Input, on stdin, any number of programs:

     prog <slots> <owners> <registers> <result slots>
     <one operation per line>
     end

   Output, per program: "T <state>..." after every operation (the states of all slots, then of
   all result slots, with ':' for ' '), "K <op> <owner> <x>" for every callback call (the
   operation counted from 0, the callback's owner, the element or seed it was called on), in
   call order, "Y <op> <slot> <n>" for a pipeline whose making raised Fail n (see "P" in
   [op]), then "done". A state
   is "X" (no promise), "P" (pending), "F <v>", "R C" (Canceled), "R <n>" (Fail n) or
   "R ?<text>". An exception escaping an operation is printed as "E <text>" and ends the
   program.

   Operations:

     W d | T d                      Lwt.wait (), Lwt.task () in slot d (resolver kept)
     WU s v | WE s n | X s          wakeup v, wakeup_exn (Fail n), cancel: slot s
     CR o j v | CF o j n | CX o j   the j-th oldest callback promise of owner o still pending
                                    (neither woken nor canceled by these): wakeup v,
                                    wakeup_exn (Fail n), cancel
     P d <piece> <stage>... <consumer>
                                    a pipeline into slot d
     FN d r                         force the rest kept in register r into slot d (as "nd")

   A piece (a source):
     E | V.x | L.x.y...             empty, return x, of_list [x; y; ...]
     U.o.a.c.cb | A.o.a.c.cb        unfold, unfold_lwt from seed a: elements a .. a+c-1 (the
                                    seed is the element), then None; unfold_lwt's callback
                                    promise, when pending and woken with v, gives None if
                                    v mod 4 = 0, else Some (v, u + 1)
     C.s.t... | R.s                 cons_lwt of the promises of slots s, t... (0 if absent),
                                    return_lwt
     F.o.n                          a sequence that fails with Fail n when forced (a call of o)
     S.x.y... | Q.s.t...            of_seq of a list, of_seq_lwt of the promises of slots
   A stage:
     m|M.o.cb                       map, map_s: (x * 3 + salt) mod 1000
     f|F.o.cb                       filter, filter_s: (x + salt) mod 3 <> 0 (filter_s woken with
                                    v: v mod 2 = 0)
     o|O.o.cb                       filter_map(_s): None if (x + salt) mod 3 = 0, else
                                    Some ((x + 7) mod 1000) (woken with v: None if v mod 3 = 0,
                                    else Some v)
     b.o.cb                         flat_map: by (x + salt) mod 4, empty, [x * 10 mod 1000],
                                    [x * 10 mod 1000; x * 10 mod 1000 + 1], or x * 10 mod 1000
                                    then a failure (Fail 9)
     +<piece>                       append the piece
   A consumer:
     fl|fs.o.cb                     fold_left(_s) from 7: (acc * 131 + x) mod md
     it|is|ip.o.cb | in.o.cb.n      iter, iter_s, iter_p, iter_n ~max_concurrency:n (result 0)
     tl                             to_list (result: combine of the list)
     nd.r                           force the first node: the element, or -1 for Nil; the rest
                                    goes to register r (FN forces it)
   Lwt_result, over result slots ((int, int) result promises; a state "F <v>" is Ok v for v >= 0
   and Error e for v = -1000 - e):
     RW d                           Lwt.task () in result slot d
     RO s v | RE s e | RX s n | RC s
                                    wakeup (Ok v), wakeup (Error e), wakeup_exn (Fail n),
                                    cancel: result slot s
     RV d v | RL d e                return v, fail e
     RK d s | RN d s                ok, error of (int) slot s's promise
     RA d s                         catch of slot s's promise, its error mapped to its number
                                    (Canceled 100, another exception 101)
     RH d s t                       both: the pair's Ok (a, b) mapped to (a * 131 + b) mod md
     RF d s k.o.cb                  over result slot s: k is "m" map ((x * 3 + salt) mod 1000),
                                    "e" map_error (likewise), "r" bind_result (by x + salt,
                                    [of_v]), "b" bind (likewise, or woken with v: [of_v v]),
                                    "l" bind_lwt ((x * 3 + salt) mod 1000, or v), "E"
                                    bind_error (as "b"), "L" bind_lwt_error (as "l")
     RI d s k.o.cb                  into (int) slot d: k is "i" iter, "j" iter_error (0)
   A pipeline or Lwt_result operation whose making raises is "Y" (see "P" in [op]).

   A callback "cb" is "<mode>.<salt>": what it does on element x is [kind mode salt x]: "v"
   returns at once, "p" returns a fresh Lwt.task () (a callback promise of its owner, that the
   program resolves or cancels later; woken with v, the value is v unless said otherwise),
   "r" mixes these with a returned failure and a raise (Fail n, n = 1 + (x + salt) mod 9,
   a euclidean remainder). A
   callback that returns no promise raises on a failure or a raise, and returns at once
   otherwise. The modes "c<d>" and "w<s>" are "r", with an action first when
   (x + salt) mod 4 = 1: cancel slot d (its own pipeline's result), wake slot s up with x (if
   its resolver is unused). *)

exception Fail of int

let md = 1_000_003

let ( >|= ) = Lwt.Infix.( >|= )

let combine l = List.fold_left (fun acc v -> ((acc * 131) + v) mod md) 7 l

let slots : int Lwt.t option array ref = ref [||]

let resolvers : int Lwt.u option array ref = ref [||]

let regs : int Lwt_seq.t option array ref = ref [||]

let rslots : (int, int) result Lwt.t option array ref = ref [||]

let rresolvers : (int, int) result Lwt.u option array ref = ref [||]

let of_v v = if v mod 2 = 0 then Ok v else Error v

let exn_code = function Lwt.Canceled -> 100 | Fail n -> n | _ -> 101

(* Each owner's callback promises, oldest first, None once woken or canceled by CR/CF/CX. *)
let cbs : (int Lwt.t * int Lwt.u) option ref list array ref = ref [||]

let cur = ref 0

let calls : string list ref = ref []

let raised : string list ref = ref []

let call o x = calls := Printf.sprintf "K %d %d %d" !cur o x :: !calls

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let get a i = if i >= 0 && i < Array.length !a then !a.(i) else None

let slot_promise s = match get slots s with Some p -> p | None -> Lwt.return 0

type kind = Now | Pend | Failed | Raise

let kind mode salt x =
  match mode with
  | "v" -> Now
  | "p" -> Pend
  | _ -> (
      (* Elements may be negative (a slot read as a source may hold -1, Nil): a euclidean
         remainder. *)
      match ((((x * 7) + salt) mod 10) + 10) mod 10 with
      | 0 | 1 | 2 | 3 | 4 -> Now
      | 5 | 6 | 7 -> Pend
      | 8 -> Failed
      | _ -> Raise)

let fail_no salt x = 1 + ((((x + salt) mod 9) + 9) mod 9)

type cb = { o : int; mode : string; salt : int }

let act cb x =
  let m = cb.mode in
  if String.length m > 1 && (x + cb.salt) mod 4 = 1 then
    let t = int_of_string (String.sub m 1 (String.length m - 1)) in
    match m.[0] with
    | 'c' -> ( match get slots t with Some p -> Lwt.cancel p | None -> ())
    | 'w' -> (
        match get resolvers t with
        | Some r ->
            !resolvers.(t) <- None;
            Lwt.wakeup r x
        | None -> ())
    | _ -> failwith ("bad mode " ^ m)

(* A callback that returns no promise. *)
let sync cb x f =
  call cb.o x;
  act cb x;
  match kind cb.mode cb.salt x with
  | Failed | Raise -> raise (Fail (fail_no cb.salt x))
  | Now | Pend -> f ()

(* A callback that returns a promise: [now] at once, or a fresh task's value through [k]. *)
let async cb x now k =
  call cb.o x;
  act cb x;
  match kind cb.mode cb.salt x with
  | Now -> Lwt.return now
  | Failed -> Lwt.fail (Fail (fail_no cb.salt x))
  | Raise -> raise (Fail (fail_no cb.salt x))
  | Pend ->
      let p, u = Lwt.task () in
      !cbs.(cb.o) <- !cbs.(cb.o) @ [ ref (Some (p, u)) ];
      Lwt.map k p

let cb_act o j f =
  if o >= 0 && o < Array.length !cbs then
    let pending = List.filter (fun r -> !r <> None) !cbs.(o) in
    match List.nth_opt pending j with
    | Some ({ contents = Some (p, u) } as r) ->
        r := None;
        f p u
    | _ -> ()

let i = int_of_string

let cb_of o mode salt = { o = i o; mode; salt = i salt }

let piece tok =
  match String.split_on_char '.' tok with
  | [ "E" ] -> Lwt_seq.empty
  | [ "V"; x ] -> Lwt_seq.return (i x)
  | "L" :: xs -> Lwt_seq.of_list (List.map i xs)
  | [ "U"; o; a; c; mode; salt ] ->
      let cb = cb_of o mode salt and last = i a + i c in
      let f u = sync cb u (fun () -> if u >= last then None else Some (u, u + 1)) in
      Lwt_seq.unfold f (i a)
  | [ "A"; o; a; c; mode; salt ] ->
      let cb = cb_of o mode salt and last = i a + i c in
      Lwt_seq.unfold_lwt
        (fun u ->
          if u >= last then (
            call cb.o u;
            Lwt.return None)
          else
            let next v = if v mod 4 = 0 then None else Some (v, u + 1) in
            async cb u (Some (u, u + 1)) next)
        (i a)
  | "C" :: ss ->
      List.fold_right (fun s acc -> Lwt_seq.cons_lwt (slot_promise (i s)) acc) ss Lwt_seq.empty
  | [ "R"; s ] -> Lwt_seq.return_lwt (slot_promise (i s))
  | "S" :: xs -> Lwt_seq.of_seq (List.to_seq (List.map i xs))
  | "Q" :: ss -> Lwt_seq.of_seq_lwt (List.to_seq (List.map (fun s -> slot_promise (i s)) ss))
  | [ "F"; o; n ] ->
      fun () ->
        call (i o) (i n);
        Lwt.fail (Fail (i n))
  | _ -> failwith ("bad piece " ^ tok)

let inner x salt =
  let y = x * 10 mod 1000 in
  match (x + salt) mod 4 with
  | 0 -> Lwt_seq.empty
  | 1 -> Lwt_seq.of_list [ y ]
  | 2 -> Lwt_seq.of_list [ y; y + 1 ]
  | _ -> Lwt_seq.cons y (fun () -> Lwt.fail (Fail 9))

let stage s tok =
  if tok.[0] = '+' then Lwt_seq.append s (piece (String.sub tok 1 (String.length tok - 1)))
  else
    match String.split_on_char '.' tok with
    | [ k; o; mode; salt ] -> (
        let cb = cb_of o mode salt in
        let salt = cb.salt in
        let fm x = if (x + salt) mod 3 = 0 then None else Some ((x + 7) mod 1000) in
        match k with
        | "m" -> Lwt_seq.map (fun x -> sync cb x (fun () -> ((x * 3) + salt) mod 1000)) s
        | "M" -> Lwt_seq.map_s (fun x -> async cb x (((x * 3) + salt) mod 1000) (fun v -> v)) s
        | "f" -> Lwt_seq.filter (fun x -> sync cb x (fun () -> (x + salt) mod 3 <> 0)) s
        | "F" ->
            Lwt_seq.filter_s (fun x -> async cb x ((x + salt) mod 3 <> 0) (fun v -> v mod 2 = 0)) s
        | "o" -> Lwt_seq.filter_map (fun x -> sync cb x (fun () -> fm x)) s
        | "O" ->
            Lwt_seq.filter_map_s
              (fun x -> async cb x (fm x) (fun v -> if v mod 3 = 0 then None else Some v))
              s
        | "b" -> Lwt_seq.flat_map (fun x -> sync cb x (fun () -> inner x salt)) s
        | _ -> failwith ("bad stage " ^ tok))
    | _ -> failwith ("bad stage " ^ tok)

let force_node r s =
  !regs.(r) <- None;
  Lwt.apply s () >|= function
  | Lwt_seq.Nil -> -1
  | Lwt_seq.Cons (x, rest) ->
      !regs.(r) <- Some rest;
      x

let consumer s tok =
  let unit p = p >|= fun () -> 0 in
  match String.split_on_char '.' tok with
  | [ "tl" ] -> Lwt_seq.to_list s >|= combine
  | [ "nd"; r ] -> force_node (i r) s
  | [ k; o; mode; salt ] -> (
      let cb = cb_of o mode salt in
      let step acc x = ((acc * 131) + x) mod md in
      match k with
      | "fl" -> Lwt_seq.fold_left (fun acc x -> sync cb x (fun () -> step acc x)) 7 s
      | "fs" -> Lwt_seq.fold_left_s (fun acc x -> async cb x (step acc x) (fun v -> v)) 7 s
      | "it" -> unit (Lwt_seq.iter (fun x -> sync cb x (fun () -> ())) s)
      | "is" -> unit (Lwt_seq.iter_s (fun x -> async cb x () ignore) s)
      | "ip" -> unit (Lwt_seq.iter_p (fun x -> async cb x () ignore) s)
      | _ -> failwith ("bad consumer " ^ tok))
  | [ "in"; o; mode; salt; n ] ->
      let cb = cb_of o mode salt in
      unit (Lwt_seq.iter_n ~max_concurrency:(i n) (fun x -> async cb x () ignore) s)
  | _ -> failwith ("bad consumer " ^ tok)

let result_op words =
  let rget s = match get rslots (i s) with Some p -> p | None -> Lwt.return (Ok 0) in
  let rset d p = !rslots.(i d) <- Some p in
  let rresolve s f =
    match get rresolvers (i s) with
    | Some r ->
        !rresolvers.(i s) <- None;
        f r
    | None -> ()
  in
  let cb_tok tok =
    match String.split_on_char '.' tok with
    | [ k; o; mode; salt ] -> (k, cb_of o mode salt)
    | _ -> failwith ("bad callback " ^ tok)
  in
  match words with
  | [ "RW"; d ] ->
      let p, r = Lwt.task () in
      rset d p;
      !rresolvers.(i d) <- Some r
  | [ "RO"; s; v ] -> rresolve s (fun r -> Lwt.wakeup r (Ok (i v)))
  | [ "RE"; s; e ] -> rresolve s (fun r -> Lwt.wakeup r (Error (i e)))
  | [ "RX"; s; n ] -> rresolve s (fun r -> Lwt.wakeup_exn r (Fail (i n)))
  | [ "RC"; s ] -> ( match get rslots (i s) with Some p -> Lwt.cancel p | None -> ())
  | [ "RV"; d; v ] -> rset d (Lwt_result.return (i v))
  | [ "RL"; d; e ] -> rset d (Lwt_result.fail (i e))
  | [ "RK"; d; s ] -> rset d (Lwt_result.ok (slot_promise (i s)))
  | [ "RN"; d; s ] -> rset d (Lwt_result.error (slot_promise (i s)))
  | [ "RA"; d; s ] -> rset d (Lwt_result.map_error exn_code (Lwt_result.catch (slot_promise (i s))))
  | [ "RH"; d; s; t ] ->
      let pair (a, b) = ((a * 131) + b) mod md in
      rset d (Lwt_result.map pair (Lwt_result.both (rget s) (rget t)))
  | [ "RF"; d; s; tok ] ->
      let k, cb = cb_tok tok in
      let salt = cb.salt and r = rget s in
      let f x = ((x * 3) + salt) mod 1000 in
      rset d
        (match k with
        | "m" -> Lwt_result.map (fun x -> sync cb x (fun () -> f x)) r
        | "e" -> Lwt_result.map_error (fun e -> sync cb e (fun () -> f e)) r
        | "r" -> Lwt_result.bind_result r (fun x -> sync cb x (fun () -> of_v (x + salt)))
        | "b" -> Lwt_result.bind r (fun x -> async cb x (of_v (x + salt)) of_v)
        | "l" -> Lwt_result.bind_lwt r (fun x -> async cb x (f x) (fun v -> v))
        | "E" -> Lwt_result.bind_error r (fun e -> async cb e (of_v (e + salt)) of_v)
        | "L" -> Lwt_result.bind_lwt_error r (fun e -> async cb e (f e) (fun v -> v))
        | _ -> failwith ("bad RF " ^ tok))
  | [ "RI"; d; s; tok ] ->
      let k, cb = cb_tok tok in
      let r = rget s in
      let p =
        match k with
        | "i" -> Lwt_result.iter (fun x -> async cb x () ignore) r
        | "j" -> Lwt_result.iter_error (fun e -> async cb e () ignore) r
        | _ -> failwith ("bad RI " ^ tok)
      in
      !slots.(i d) <- Some (p >|= fun () -> 0)
  | _ -> failwith ("bad op " ^ String.concat " " words)

let op words =
  let set d p = !slots.(i d) <- Some p in
  let resolve s f =
    match get resolvers (i s) with
    | Some r ->
        !resolvers.(i s) <- None;
        f r
    | None -> ()
  in
  match words with
  | [ "W"; d ] ->
      let p, r = Lwt.wait () in
      set d p;
      !resolvers.(i d) <- Some r
  | [ "T"; d ] ->
      let p, r = Lwt.task () in
      set d p;
      !resolvers.(i d) <- Some r
  | [ "WU"; s; v ] -> resolve s (fun r -> Lwt.wakeup r (i v))
  | [ "WE"; s; n ] -> resolve s (fun r -> Lwt.wakeup_exn r (Fail (i n)))
  | [ "X"; s ] -> ( match get slots (i s) with Some p -> Lwt.cancel p | None -> ())
  | [ "CR"; o; j; v ] -> cb_act (i o) (i j) (fun _ u -> Lwt.wakeup u (i v))
  | [ "CF"; o; j; n ] -> cb_act (i o) (i j) (fun _ u -> Lwt.wakeup_exn u (Fail (i n)))
  | [ "CX"; o; j ] -> cb_act (i o) (i j) (fun p _ -> Lwt.cancel p)
  | [ "FN"; d; r ] -> ( match get regs (i r) with Some s -> set d (force_node (i r) s) | None -> ())
  | "P" :: d :: src :: rest -> (
      let rec go s = function
        | [ c ] -> consumer s c
        | st :: more -> go (stage s st) more
        | [] -> failwith "no consumer"
      in
      (* Lwt's bind calls its callback at once on a fulfilled promise, and lets what it raises
         escape (Lwt issue #329): a raise in a chain of such binds escapes the operation. The
         crate rejects the result instead, on purpose (README, "Where this differs from Lwt, on
         purpose": "a panic in the callback rejects it, whether the source was already resolved
         or not"): such a raise is reported ("Y <op> <slot> <n>"), and the slot holds a
         rejection with it, to be compared with the crate's. *)
      try set d (go (piece src) rest)
      with Fail n ->
        raised := Printf.sprintf "Y %d %s %d" !cur d n :: !raised;
        set d (Lwt.fail (Fail n)))
  | w :: d :: _ when w.[0] = 'R' -> (
      (* As for "P": a raise that escapes is the result's rejection (the crate's). *)
      try result_op words
      with Fail n ->
        let d = if w = "RI" then i d else Array.length !slots + i d in
        raised := Printf.sprintf "Y %d %d %d" !cur d n :: !raised;
        if w = "RI" then set (string_of_int d) (Lwt.fail (Fail n))
        else !rslots.(d - Array.length !slots) <- Some (Lwt.fail (Fail n)))
  | _ -> failwith ("bad op " ^ String.concat " " words)

let state p =
  match Lwt.state p with
  | Lwt.Return v -> "F:" ^ string_of_int v
  | Lwt.Fail e -> "R:" ^ exn_text e
  | Lwt.Sleep -> "P"

let rstate p =
  match Lwt.state p with
  | Lwt.Return (Ok v) -> "F:" ^ string_of_int v
  | Lwt.Return (Error e) -> "F:" ^ string_of_int (-1000 - e)
  | Lwt.Fail e -> "R:" ^ exn_text e
  | Lwt.Sleep -> "P"

let states () =
  String.concat " "
    (Array.to_list (Array.map (function None -> "X" | Some p -> state p) !slots)
    @ Array.to_list (Array.map (function None -> "X" | Some p -> rstate p) !rslots))

let run_prog n_slots n_owners n_regs n_rslots ops =
  slots := Array.make n_slots None;
  rslots := Array.make n_rslots None;
  rresolvers := Array.make n_rslots None;
  resolvers := Array.make n_slots None;
  regs := Array.make n_regs None;
  cbs := Array.make n_owners [];
  calls := [];
  let flush () =
    List.iter print_endline (List.rev !calls);
    List.iter print_endline (List.rev !raised);
    calls := [];
    raised := []
  in
  (try
     List.iteri
       (fun k line ->
         cur := k;
         op (String.split_on_char ' ' line);
         flush ();
         print_endline ("T " ^ states ()))
       ops
   with e ->
     flush ();
     print_endline ("E " ^ exn_text e));
  print_endline "done"

let () =
  let rec read_progs () =
    match input_line stdin with
    | exception End_of_file -> ()
    | line -> (
        match String.split_on_char ' ' line with
        | [ "prog"; s; o; r; rs ] ->
            let rec body acc =
              match input_line stdin with
              | "end" -> List.rev acc
              | l -> body (l :: acc)
            in
            run_prog (i s) (i o) (i r) (i rs) (body []);
            read_progs ()
        | [ "" ] -> read_progs ()
        | _ -> failwith ("bad line " ^ line))
  in
  read_progs ()
