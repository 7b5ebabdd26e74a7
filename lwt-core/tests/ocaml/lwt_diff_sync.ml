(* The OCaml side of lwt-core's differential test of the synchronisation modules
   (tests/ocaml_diff_sync.rs): an interpreter that runs straight-line programs over Lwt_mutex,
   Lwt_condition, Lwt_mvar and Lwt_stream objects and a pool of int promises on real Lwt, and
   prints the state of every slot of the pool after every operation, what the queries saw, and
   which with_lock bodies ran.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff_sync.ml -o lwt_diff_sync
   (ocaml_diff_sync.rs does it). Input, on stdin, any number of programs:

     prog <slots>
     <one operation per line>
     end

   Output, per program: "T <state>..." after every operation (the states of all slots, with ':'
   for ' '), "Q <op> <text>" for what the query at operation <op> (counted from 0) saw,
   "S <slot> <state>" for every slot at the end, "L <label>" for every with_lock body that ran,
   then "done". A state is "X" (no promise), "P" (pending), "F <v>", "R C" (Canceled),
   "R <n>" (Fail n), "R closed" / "R full" (Lwt_stream.Closed / Full) or "R ?<text>". An
   exception escaping an operation is printed as "E <text>" and ends the program.

   Objects: mutexes, conditions, mailboxes and streams, each numbered within its kind. Every
   promise is an int promise: unit is 0; a stream read gives the element, or -1 for None; nget
   gives [combine] of the list; a bool is 0 / 1.

     NM m | NC c | NV v x | NE v              Lwt_mutex.create, Lwt_condition.create,
                                              Lwt_mvar.create x, Lwt_mvar.create_empty
     NS s | NB s size                         Lwt_stream.create, create_bounded size
     LK d m | UL m | WL d m L B               lock, unlock, with_lock m (body B, label L)
     ML m | MQ m                              queries: is_locked, is_empty
     CW d c m | SG c v | BC c v | BE c n      wait (?mutex: m is "-" for none), signal,
                                              broadcast, broadcast_exn (Fail n)
     PT d v x | TK d v | TA v | VQ v          put, take, queries: take_available, is_empty
     GT d s | PK d s | JK d s | NG d s n      get, peek, junk, nget n
     SE d s | CD d s                          is_empty, closed
     PU s x | BP d s x | CL s                 push (Some x) (query: "ok" or "closed"), a bounded
                                              push, close (push None, whose Closed on a closed
                                              stream is ignored / #close)
     NP d s n | NJ d s n | NX d s             npeek n, njunk n, next (Empty is "R empty")
     GW d s t | GS d s t                      get_while (fun x -> x < t), get_while_s (its
                                              predicate's promise resolved)
     JW d s t | JS d s t                      junk_while, junk_while_s, as GW and GS
     LN d s | JO d s                          last_new, junk_old
     DV t s k                                 stream t derived from (unbounded) s: k is "c"
                                              (clone s), or over clone s "m"/"M" (map(_s)
                                              x + 1000), "f"/"F" (filter(_s) even), "o"/"O"
                                              (filter_map(_s): x + 2000 unless x mod 3 = 0)
     DD t s k                                 as DV, but over s itself (any stream, bounded
                                              too): s's own reads and t's take turns at its
                                              elements; k is not "c"
     GA s | GU s n | SQ s | BQ s | RS s n     queries: get_available, get_available_up_to n,
                                              is_closed, a bounded push's count, size and
                                              blocked; resize n
     W d | WU s v | WE s n | X s              Lwt.wait (), wakeup, wakeup_exn (Fail n), cancel

   A body B is "v <value>" (return it), "f <n>" (fail with Fail n), "e <slot>" (return that
   slot's promise, or 0 if there is none) or "w <slot>" (a fresh Lwt.wait (), stored in that slot
   with its resolver); the letter may be followed by an action the body does first:
   "/UL.<m>", "/SG.<c>.<v>", "/BC.<c>.<v>", "/PT.<v>.<x>" (its promise ignored), "/PU.<s>.<x>"
   (on an unbounded stream, Closed ignored), "/CL.<s>" or "/WU.<slot>.<v>". An operation naming an object or slot that does not exist (yet) is skipped,
   as is a wakeup whose resolver is used (or absent), a PU on a bounded stream and a BP, BQ or RS
   on an unbounded one. *)

exception Fail of int

let md = 1_000_003

let combine l = List.fold_left (fun acc v -> ((acc * 131) + v) mod md) 7 l

type stream =
  | Unbounded of int Lwt_stream.t * (int option -> unit)
  | Bounded of int Lwt_stream.t * int Lwt_stream.bounded_push
  | Derived of int Lwt_stream.t
  | Concat of int Lwt_stream.t * (int Lwt_stream.t option -> unit)

let n_objects = 4

let slots : int Lwt.t option array ref = ref [||]

let resolvers : int Lwt.u option array ref = ref [||]

let mutexes : Lwt_mutex.t option array ref = ref [||]

let conds : int Lwt_condition.t option array ref = ref [||]

let mvars : int Lwt_mvar.t option array ref = ref [||]

let streams : stream option array ref = ref [||]

let ran : string list ref = ref []

let queries : string list ref = ref []

(* The operation running; the _s and on_terminate callbacks that ran ("K <op> <object> <what>",
   newest first); each owner's callback promises, oldest first, None once resolved. *)
let cur = ref 0

let calls : string list ref = ref []

let cbs : (string, int Lwt.u option ref list) Hashtbl.t = Hashtbl.create 8

let stream_obj s = (3 * n_objects) + s

let call obj what = calls := Printf.sprintf "K %d %d %s" !cur obj what :: !calls

let callback owner obj x =
  call obj (Printf.sprintf "cb %s %d" owner x);
  let p, r = Lwt.wait () in
  let l = try Hashtbl.find cbs owner with Not_found -> [] in
  Hashtbl.replace cbs owner (l @ [ ref (Some r) ]);
  p

let cb_wake owner j f =
  let pending = List.filter (fun r -> !r <> None) (try Hashtbl.find cbs owner with Not_found -> []) in
  match List.nth_opt pending j with
  | Some ({ contents = Some u } as r) ->
      r := None;
      f u
  | _ -> ()

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | Lwt_stream.Closed -> "closed"
  | Lwt_stream.Full -> "full"
  | Lwt_stream.Empty -> "empty"
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let get a i = if i >= 0 && i < Array.length !a then !a.(i) else None

let set i p = !slots.(i) <- Some p

let fresh i =
  let p, r = Lwt.wait () in
  !slots.(i) <- Some p;
  !resolvers.(i) <- Some r;
  p

let resolve s f =
  match get resolvers s with
  | Some r ->
      !resolvers.(s) <- None;
      f r
  | None -> ()

let close = function
  | Unbounded (_, push) -> ( try push None with Lwt_stream.Closed -> ())
  | Bounded (_, b) -> b#close
  | Concat (_, push) -> ( try push None with Lwt_stream.Closed -> ())
  | Derived _ -> ()

(* What a body does first: "<kind>[/<action>.<a>.<b>]". *)
let act action =
  let i = int_of_string in
  let with_obj a o f = match get a o with Some x -> f x | None -> () in
  match String.split_on_char '.' action with
  | [ "UL"; m ] -> with_obj mutexes (i m) Lwt_mutex.unlock
  | [ "SG"; c; v ] -> with_obj conds (i c) (fun c -> Lwt_condition.signal c (i v))
  | [ "BC"; c; v ] -> with_obj conds (i c) (fun c -> Lwt_condition.broadcast c (i v))
  | [ "PT"; v; x ] -> with_obj mvars (i v) (fun v -> ignore (Lwt_mvar.put v (i x)))
  | [ "PU"; s; x ] ->
      with_obj streams (i s) (function
        | Unbounded (_, push) -> ( try push (Some (i x)) with Lwt_stream.Closed -> ())
        | Bounded _ | Derived _ | Concat _ -> ())
  | [ "CL"; s ] -> with_obj streams (i s) close
  | [ "WU"; s; v ] -> resolve (i s) (fun r -> Lwt.wakeup r (i v))
  | _ -> failwith ("bad action " ^ action)

let body label kind n () =
  ran := Printf.sprintf "L %d" label :: !ran;
  let kind =
    match String.split_on_char '/' kind with
    | [ k ] -> k
    | [ k; a ] -> act a; k
    | _ -> failwith ("bad body " ^ kind)
  in
  match kind with
  | "v" -> Lwt.return n
  | "f" -> Lwt.fail (Fail n)
  | "e" -> (match get slots n with Some p -> p | None -> Lwt.return 0)
  | "w" -> fresh n
  | _ -> failwith ("bad body " ^ kind)

let opt = function Some x -> x | None -> -1

let bool b = if b then 1 else 0

let stream_of = function Unbounded (s, _) | Bounded (s, _) | Derived s | Concat (s, _) -> s

let query k text = queries := Printf.sprintf "Q %d %s" k text :: !queries

let list_text l = "[" ^ String.concat "," (List.map string_of_int l) ^ "]"

let op k words =
  let i = int_of_string in
  let with_obj a o f = match get a (i o) with Some x -> f x | None -> () in
  let to_slot d p = set (i d) p in
  match words with
  | [ "NM"; m ] -> !mutexes.(i m) <- Some (Lwt_mutex.create ())
  | [ "NC"; c ] -> !conds.(i c) <- Some (Lwt_condition.create ())
  | [ "NV"; v; x ] -> !mvars.(i v) <- Some (Lwt_mvar.create (i x))
  | [ "NE"; v ] -> !mvars.(i v) <- Some (Lwt_mvar.create_empty ())
  | [ "NS"; s ] ->
      let st, push = Lwt_stream.create () in
      !streams.(i s) <- Some (Unbounded (st, push))
  | [ "NB"; s; size ] ->
      let st, push = Lwt_stream.create_bounded (i size) in
      !streams.(i s) <- Some (Bounded (st, push))
  | [ "LK"; d; m ] -> with_obj mutexes m (fun m -> to_slot d (Lwt.map (fun () -> 0) (Lwt_mutex.lock m)))
  | [ "UL"; m ] -> with_obj mutexes m Lwt_mutex.unlock
  | [ "WL"; d; m; l; kind; n ] ->
      with_obj mutexes m (fun m -> to_slot d (Lwt_mutex.with_lock m (body (i l) kind (i n))))
  | [ "ML"; m ] -> with_obj mutexes m (fun m -> query k (string_of_bool (Lwt_mutex.is_locked m)))
  | [ "MQ"; m ] -> with_obj mutexes m (fun m -> query k (string_of_bool (Lwt_mutex.is_empty m)))
  | [ "CW"; d; c; m ] ->
      with_obj conds c (fun c ->
          if m = "-" then to_slot d (Lwt_condition.wait c)
          else with_obj mutexes m (fun m -> to_slot d (Lwt_condition.wait ~mutex:m c)))
  | [ "SG"; c; v ] -> with_obj conds c (fun c -> Lwt_condition.signal c (i v))
  | [ "BC"; c; v ] -> with_obj conds c (fun c -> Lwt_condition.broadcast c (i v))
  | [ "BE"; c; n ] -> with_obj conds c (fun c -> Lwt_condition.broadcast_exn c (Fail (i n)))
  | [ "PT"; d; v; x ] -> with_obj mvars v (fun v -> to_slot d (Lwt.map (fun () -> 0) (Lwt_mvar.put v (i x))))
  | [ "TK"; d; v ] -> with_obj mvars v (fun v -> to_slot d (Lwt_mvar.take v))
  | [ "TA"; v ] -> with_obj mvars v (fun v -> query k (string_of_int (opt (Lwt_mvar.take_available v))))
  | [ "VQ"; v ] -> with_obj mvars v (fun v -> query k (string_of_bool (Lwt_mvar.is_empty v)))
  | [ "GT"; d; s ] -> with_obj streams s (fun s -> to_slot d (Lwt.map opt (Lwt_stream.get (stream_of s))))
  | [ "PK"; d; s ] -> with_obj streams s (fun s -> to_slot d (Lwt.map opt (Lwt_stream.peek (stream_of s))))
  | [ "JK"; d; s ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map (fun () -> 0) (Lwt_stream.junk (stream_of s))))
  | [ "NG"; d; s; n ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map combine (Lwt_stream.nget (i n) (stream_of s))))
  | [ "SE"; d; s ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map bool (Lwt_stream.is_empty (stream_of s))))
  | [ "CD"; d; s ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map (fun () -> 0) (Lwt_stream.closed (stream_of s))))
  | [ "PU"; s; x ] ->
      with_obj streams s (function
        | Unbounded (_, push) -> (
            match push (Some (i x)) with
            | () -> query k "ok"
            | exception Lwt_stream.Closed -> query k "closed")
        | Bounded _ | Derived _ | Concat _ -> ())
  | [ "BP"; d; s; x ] ->
      with_obj streams s (function
        | Bounded (_, b) -> to_slot d (Lwt.map (fun () -> 0) (b#push (i x)))
        | Unbounded _ | Derived _ | Concat _ -> ())
  | [ "CL"; s ] ->
      (* A second push None raises Closed; lwt-core's close does nothing then. *)
      with_obj streams s close
  | [ "GA"; s ] ->
      with_obj streams s (fun s -> query k (list_text (Lwt_stream.get_available (stream_of s))))
  | [ "GU"; s; n ] ->
      with_obj streams s (fun s ->
          query k (list_text (Lwt_stream.get_available_up_to (i n) (stream_of s))))
  | [ "NP"; d; s; n ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map combine (Lwt_stream.npeek (i n) (stream_of s))))
  | [ "NJ"; d; s; n ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map (fun () -> 0) (Lwt_stream.njunk (i n) (stream_of s))))
  | [ "NX"; d; s ] -> with_obj streams s (fun s -> to_slot d (Lwt_stream.next (stream_of s)))
  | [ "GW"; d; s; t ] ->
      with_obj streams s (fun s ->
          to_slot d (Lwt.map combine (Lwt_stream.get_while (fun x -> x < i t) (stream_of s))))
  | [ "GS"; d; s; t ] ->
      with_obj streams s (fun s ->
          to_slot d
            (Lwt.map combine (Lwt_stream.get_while_s (fun x -> Lwt.return (x < i t)) (stream_of s))))
  | [ "JW"; d; s; t ] ->
      with_obj streams s (fun s ->
          to_slot d (Lwt.map (fun () -> 0) (Lwt_stream.junk_while (fun x -> x < i t) (stream_of s))))
  | [ "JS"; d; s; t ] ->
      with_obj streams s (fun s ->
          to_slot d
            (Lwt.map (fun () -> 0)
               (Lwt_stream.junk_while_s (fun x -> Lwt.return (x < i t)) (stream_of s))))
  | [ "LN"; d; s ] -> with_obj streams s (fun s -> to_slot d (Lwt_stream.last_new (stream_of s)))
  | [ "JO"; d; s ] ->
      with_obj streams s (fun s -> to_slot d (Lwt.map (fun () -> 0) (Lwt_stream.junk_old (stream_of s))))
  | [ ("DV" | "DD") as dv; t; s; how ] ->
      with_obj streams s (fun s ->
          let c = if dv = "DD" then stream_of s else Lwt_stream.clone (stream_of s) in
          let r = Lwt.return in
          let fm x = if x mod 3 <> 0 then Some (x + 2000) else None in
          let d =
            match how with
            | "c" -> c
            | "m" -> Lwt_stream.map (fun x -> x + 1000) c
            | "M" -> Lwt_stream.map_s (fun x -> r (x + 1000)) c
            | "f" -> Lwt_stream.filter (fun x -> x mod 2 = 0) c
            | "F" -> Lwt_stream.filter_s (fun x -> r (x mod 2 = 0)) c
            | "o" -> Lwt_stream.filter_map fm c
            | "O" -> Lwt_stream.filter_map_s (fun x -> r (fm x)) c
            | "W" | "G" | "P" -> (
                let cb = callback ("s" ^ t) (stream_obj (i t)) in
                match how with
                | "W" -> Lwt_stream.map_s cb c
                | "G" -> Lwt_stream.filter_s (fun x -> Lwt.map (fun v -> v mod 2 = 0) (cb x)) c
                | _ ->
                    Lwt_stream.filter_map_s
                      (fun x -> Lwt.map (fun v -> if v mod 3 <> 0 then Some (v + 2000) else None) (cb x))
                      c)
            | _ -> failwith ("bad derivation " ^ how)
          in
          !streams.(i t) <- Some (Derived d))
  | [ "D2"; t; s; u; how ] ->
      with_obj streams s (fun s ->
          with_obj streams u (fun u ->
              let c = Lwt_stream.clone (stream_of s) and d = Lwt_stream.clone (stream_of u) in
              let st =
                match how with
                | "a" -> Lwt_stream.append c d
                | "b" -> Lwt_stream.map (fun (x, y) -> ((x * 131) + y) mod md) (Lwt_stream.combine c d)
                | "h" -> Lwt_stream.choose [ c; d ]
                | _ -> failwith ("bad derivation " ^ how)
              in
              !streams.(i t) <- Some (Derived st)))
  | [ "CC"; t ] ->
      let top, push = Lwt_stream.create () in
      !streams.(i t) <- Some (Concat (Lwt_stream.concat top, push))
  | [ "CP"; t; s ] ->
      with_obj streams t (function
        | Concat (_, push) ->
            with_obj streams s (fun s ->
                try push (Some (Lwt_stream.clone (stream_of s))) with Lwt_stream.Closed -> ())
        | Unbounded _ | Bounded _ | Derived _ -> ())
  | [ "IS"; d; s ] ->
      with_obj streams s (fun st ->
          let cb = callback ("i" ^ d) (stream_obj (i s)) in
          to_slot d
            (Lwt.map (fun () -> 0)
               (Lwt_stream.iter_s (fun x -> Lwt.map (fun _ -> ()) (cb x)) (Lwt_stream.clone (stream_of st)))))
  | [ ("OT" | "OX") as how; s; l ] ->
      with_obj streams s (fun st ->
          let f () = call (stream_obj (i s)) ("term " ^ l) in
          if how = "OT" then (Lwt_stream.on_terminate [@ocaml.warning "-3"]) (stream_of st) f
          else (Lwt_stream.on_termination [@ocaml.warning "-3"]) (stream_of st) f)
  | [ "CR"; o; j; v ] -> cb_wake o (i j) (fun u -> Lwt.wakeup u (i v))
  | [ "CF"; o; j; n ] -> cb_wake o (i j) (fun u -> Lwt.wakeup_exn u (Fail (i n)))
  | [ "SQ"; s ] -> with_obj streams s (fun s -> query k (string_of_bool (Lwt_stream.is_closed (stream_of s))))
  | [ "BQ"; s ] ->
      with_obj streams s (function
        | Bounded (_, b) -> query k (Printf.sprintf "%d/%d/%b" b#count b#size b#blocked)
        | Unbounded _ | Derived _ | Concat _ -> ())
  | [ "RS"; s; n ] ->
      with_obj streams s (function
        | Bounded (_, b) -> b#resize (i n)
        | Unbounded _ | Derived _ | Concat _ -> ())
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
  mutexes := Array.make n_objects None;
  conds := Array.make n_objects None;
  mvars := Array.make n_objects None;
  streams := Array.make n_objects None;
  ran := [];
  queries := [];
  calls := [];
  Hashtbl.reset cbs;
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
  Array.iteri (fun j p -> Printf.printf "S %d %s\n" j (state_text p)) !slots;
  List.iter print_endline (List.sort_uniq compare !ran);
  (match escaped with Some e -> Printf.printf "E %s\n" e | None -> ());
  print_endline "done";
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
