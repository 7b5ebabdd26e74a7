(* The OCaml side of lwt-core's differential test of Lwt_pool (tests/ocaml_diff_pool.rs): an
   interpreter that runs straight-line programs over one Lwt_pool of int elements and a pool of
   int promises on real Lwt, and prints the state of every slot after every operation, what the
   queries saw and which callbacks of the pool ran.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff_pool.ml -o lwt_diff_pool
   (ocaml_diff_pool.rs does it). Input, on stdin, any number of programs:

     prog <slots>
     <one operation per line>
     end

   Output, per program: "T <state>..." after every operation (the states of all slots, with ':'
   for ' '), "Q <op> <text>" for what the query at operation <op> (counted from 0) saw,
   "K <op> <what>" for every callback of the pool that ran ("create", "validate <e>",
   "check <e>", "dispose <e>", "use <label> <e>"), then "done". A state is "X" (no promise),
   "P" (pending), "F <v>", "R C" (Canceled), "R <n>" (Fail n) or "R ?<text>". An exception
   escaping an operation is printed as "E <text>" and ends the program.

     NP max              Lwt_pool.create max, with the callbacks below
     MC r | MC f n | MC w        how create behaves from now on: return the next number
                                 (1, 2, ...), fail with Fail n, or return a callback promise
     MV t | MV f | MV x n | MV w  validate: true, false, fail with Fail n, a callback promise
                                 (fulfilled with v: valid if v is even)
     MK t | MK f | MK x n | MK w  check: calls its continuation with true / false, raises
                                 Fail n, or answers later (see "A late check" below)
     MD r | MD x n | MD w        dispose: return (), fail with Fail n, a callback promise
     US d L B            use (body B, label L) into slot d: B is "v <x>" (return e * 100 + x
                         for element e), "f <n>" (fail with Fail n) or "w <slot>" (a fresh
                         Lwt.wait () stored in that slot with its resolver)
     CL d                clear into slot d (unit is 0)
     WQ                  query: wait_queue_length
     CR j v | CF j n     resolve the j-th oldest callback promise still pending: with v (create:
                         the element v; validate: v even; dispose: ()), or with Fail n
     W d | WU s v | WE s n | X s   Lwt.wait (), wakeup, wakeup_exn (Fail n), cancel

   An operation naming a slot that does not exist (yet), or a callback promise that does not,
   is skipped, as is a wakeup whose resolver is used (or absent).

   A late check. Lwt_pool reads check's answer as soon as check returns: a continuation called
   later is ignored and the element disposed of. lwt-core's check returns a promise, and the
   pool waits for it (a deliberate difference, in the pool module docs). What is compared
   instead is that lwt-core treats an answer given late as Lwt treats the same answer given at
   once to a use that failed at that moment: with MK w, a body that fails does not fail yet;
   "check <e>" is recorded then and a callback promise is made, and resolving it (CR j v: keep
   the element if v is even; CF j n: do not) lets the body's failure through to Lwt_pool, whose
   check gives that answer at once. *)

exception Fail of int

let slots : int Lwt.t option array ref = ref [||]

let resolvers : int Lwt.u option array ref = ref [||]

let pool : int Lwt_pool.t option ref = ref None

let cur = ref 0

let queries : string list ref = ref []

let calls : string list ref = ref []

let call what = calls := Printf.sprintf "K %d %s" !cur what :: !calls

(* The callback promises, oldest first, None once resolved: each with how its value is read. *)
type cb =
  | Create of int Lwt.u
  | Validate of bool Lwt.u
  | Dispose of unit Lwt.u
  | Check of int Lwt.u * exn  (** a late check: the held-back failure of the body *)

let cbs : cb option ref list ref = ref []

let new_cb c = cbs := !cbs @ [ ref (Some c) ]

let mode_create = ref [ "r" ]

let mode_validate = ref [ "t" ]

let mode_check = ref [ "t" ]

let mode_dispose = ref [ "r" ]

let created = ref 0

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let get a i = if i >= 0 && i < Array.length !a then !a.(i) else None

let i = int_of_string

let create () =
  call "create";
  match !mode_create with
  | [ "r" ] ->
      incr created;
      Lwt.return !created
  | [ "f"; n ] -> Lwt.fail (Fail (i n))
  | _ ->
      let p, r = Lwt.wait () in
      new_cb (Create r);
      p

let validate e =
  call (Printf.sprintf "validate %d" e);
  match !mode_validate with
  | [ "t" ] -> Lwt.return_true
  | [ "f" ] -> Lwt.return_false
  | [ "x"; n ] -> Lwt.fail (Fail (i n))
  | _ ->
      let p, r = Lwt.wait () in
      new_cb (Validate r);
      p

(* The answer of a late check, while its held-back failure goes through Lwt_pool. *)
let late_answer = ref None

let check e k =
  match !late_answer with
  | Some ok ->
      (* recorded when the body failed *)
      late_answer := None;
      k ok
  | None -> (
  call (Printf.sprintf "check %d" e);
  match !mode_check with
  | [ "t" ] -> k true
  | [ "f" ] -> k false
  | [ "x"; n ] -> raise (Fail (i n))
  | _ -> failwith "bad check mode")

let dispose e =
  call (Printf.sprintf "dispose %d" e);
  match !mode_dispose with
  | [ "r" ] -> Lwt.return_unit
  | [ "x"; n ] -> Lwt.fail (Fail (i n))
  | _ ->
      let p, r = Lwt.wait () in
      new_cb (Dispose r);
      p

let fresh d =
  let p, r = Lwt.wait () in
  !slots.(d) <- Some p;
  !resolvers.(d) <- Some r;
  p

let resolve s f =
  match get resolvers s with
  | Some r ->
      !resolvers.(s) <- None;
      f r
  | None -> ()

let cb_wake j f =
  let pending = List.filter (fun r -> !r <> None) !cbs in
  match List.nth_opt pending j with
  | Some ({ contents = Some c } as r) ->
      r := None;
      f c
  | _ -> ()

let body label kind e =
  call (Printf.sprintf "use %d %d" label e);
  match kind with
  | [ "v"; x ] -> Lwt.return ((e * 100) + i x)
  | [ "f"; n ] -> Lwt.fail (Fail (i n))
  | [ "w"; d ] -> fresh (i d)
  | _ -> failwith "bad body"

(* A body whose failure is held back while check is late (see "A late check" above). *)
let body label kind e =
  Lwt.catch
    (fun () -> body label kind e)
    (fun exn ->
      match !mode_check with
      | [ "w" ] ->
          call (Printf.sprintf "check %d" e);
          let p, r = Lwt.wait () in
          new_cb (Check (r, exn));
          p
      | _ -> Lwt.fail exn)

(* Lets a late check's held-back failure through, with its answer. *)
let answer u exn ok =
  late_answer := Some ok;
  Lwt.wakeup_exn u exn;
  late_answer := None

let op k words =
  let with_pool f = match !pool with Some p -> f p | None -> () in
  match words with
  | [ "NP"; m ] -> pool := Some (Lwt_pool.create (i m) ~validate ~check ~dispose create)
  | "MC" :: m -> mode_create := m
  | "MV" :: m -> mode_validate := m
  | "MK" :: m -> mode_check := m
  | "MD" :: m -> mode_dispose := m
  | "US" :: d :: l :: b -> with_pool (fun p -> !slots.(i d) <- Some (Lwt_pool.use p (body (i l) b)))
  | [ "CL"; d ] -> with_pool (fun p -> !slots.(i d) <- Some (Lwt.map (fun () -> 0) (Lwt_pool.clear p)))
  | [ "WQ" ] ->
      with_pool (fun p ->
          queries := Printf.sprintf "Q %d %d" k (Lwt_pool.wait_queue_length p) :: !queries)
  | [ "CR"; j; v ] ->
      cb_wake (i j) (function
        | Create u -> Lwt.wakeup u (i v)
        | Validate u -> Lwt.wakeup u (i v mod 2 = 0)
        | Dispose u -> Lwt.wakeup u ()
        | Check (u, exn) -> answer u exn (i v mod 2 = 0))
  | [ "CF"; j; n ] ->
      cb_wake (i j) (function
        | Create u -> Lwt.wakeup_exn u (Fail (i n))
        | Validate u -> Lwt.wakeup_exn u (Fail (i n))
        | Dispose u -> Lwt.wakeup_exn u (Fail (i n))
        | Check (u, exn) -> answer u exn false)
  | [ "W"; d ] -> ignore (fresh (i d))
  | [ "WU"; s; v ] -> resolve (i s) (fun r -> Lwt.wakeup r (i v))
  | [ "WE"; s; n ] -> resolve (i s) (fun r -> Lwt.wakeup_exn r (Fail (i n)))
  | [ "X"; s ] -> (match get slots (i s) with Some p -> Lwt.cancel p | None -> ())
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
  pool := None;
  queries := [];
  calls := [];
  cbs := [];
  created := 0;
  mode_create := [ "r" ];
  mode_validate := [ "t" ];
  mode_check := [ "t" ];
  mode_dispose := [ "r" ];
  late_answer := None;
  let escaped =
    try
      List.iteri
        (fun k o ->
          cur := k;
          op k o;
          print_string "T";
          Array.iter
            (fun p -> print_string (" " ^ String.map (fun c -> if c = ' ' then ':' else c) (state_text p)))
            !slots;
          print_newline ())
        ops;
      None
    with e -> Some (Printexc.to_string e)
  in
  List.iter print_endline (List.rev !queries);
  List.iter print_endline (List.rev !calls);
  (match escaped with Some e -> Printf.printf "E %s\n" e | None -> ());
  print_endline "done"

let () =
  (* Lwt_pool's failures inside callbacks go to the async exception hook: keep running. *)
  Lwt.async_exception_hook := ignore;
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
