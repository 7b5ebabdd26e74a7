(* The OCaml side of lwt-core's differential test of the run loop (tests/ocaml_diff_loop.rs): an
   interpreter that runs small concurrent programs under one Lwt_main.run on real Lwt 5.6.1 and
   prints, in order, the events each saw, each with the loop iteration it ran in.

   Build: ocamlfind ocamlopt -package lwt.unix -thread -linkpkg lwt_diff_loop.ml -o lwt_diff_loop
   (ocaml_diff_loop.rs does it). Input, on stdin, any number of programs:

     prog <Y|P> <unit_ms> <waits> <guard_units> <threads> <hooks> <exits> [2]
     T <tid> <steps>                                  a thread, then its steps, one a line:
     S <label> <wait> <act>
     H <hid> <E|L> <runs> <at_run> <act>              an iteration hook
     X <xid> <wait> [<S|E> <act>]                     an exit hook
     G <act>                                          done in order before Lwt_main.run
     end

   <wait> (what a step waits for): "s k" Lwt_unix.sleep (k units), "p" Lwt.pause, "y"
   Lwt_main.yield, "t k" Lwt_unix.timeout, "wt k <inner>" Lwt_unix.with_timeout of <inner> ("s k",
   "p", "y" or "w i"), "w i" the wait promise i (Lwt.wait), "b k n" n sleeps of k units joined,
   each logged. <act> (done last in a step's continuation, or by a hook at its <at_run>th run):
   "-" nothing, "wu i v" / "wl i v" wakeup / wakeup_later of wait promise i (if its resolver is
   unused), "x l" cancel the promise of step l (if made), "ah h" install hook h (add_last; once,
   and not from a hook of the same kind while those run, unless that hook's run cleared its list
   with remove_all), "af h" install hook h with add_first (once), "rh h" remove hook h, "ra E|L
   [h]" remove_all of the enter or leave hooks, then "ah h" if given, "sp t" start thread t
   (once), "ae x" Lwt_main.at_exit of exit hook x, "xf x" / "xl x" Lwt_main.Exit_hooks.add_first /
   add_last of exit hook x (an exit hook is added once, by any of the three), "xr x"
   Exit_hooks.remove of exit hook x (if added by "xf" or "xl"), "xra" Exit_hooks.remove_all, "ex" exit 0 (the exit hooks run, in a nested
   Lwt_main.run, and the process ends; not from a hook, nor from a callback a hook runs: the
   program is then the only one of its process, having exit hooks).

   A thread runs its steps one after the other: each step makes its promise (a wait for a wait
   promise already resolved, bare or under with_timeout, is taken at once, logged "now"), and its
   continuation logs the outcome, makes the next step's promise, then does the step's action. A
   callback (or a hook's run) does one action at most, the first it reaches; an exit hook is
   registered once. An exit hook logs its start, waits for <wait>, logs its outcome, and does its
   <act> (one of "ae", "xf", "xl", "xr", "xra") at its start ("S") or in the callback that ends it
   ("E"), or "ex". The program's promise is [choose [all threads done; sleep guard_units]]. An
   enter hook counts iterations, kept the first of its list (moved in front after each "af" of an
   enter hook, added again after each "ra E"). Once run returned, the threads go no further and
   every promise the program made is canceled (off the log). With the optional "2" in the header,
   the program runs first until thread 0 ends or the guard fires (logging "end1"), then as above.

   Output, per program: one line per event, "<iteration> <event>", then "end" lines, then "done".
   Events: "<label> ok <v>" / "<label> C" (Canceled) / "<label> T" (Timeout) for a step,
   "<label> now <v>", "b<label>.<j> ok|C" for a burst's sleeps, "E<h>" / "L<h>" for a hook's run,
   "guard", "end" after run returned, "X<x> start" / "X<x> ok|C|T" for exit hooks. A program with
   exit hooks must be the last (and only) one of the process: its exit hooks run when the process
   exits, as Lwt runs them. *)

exception Bad of string

type inner = ISleep of int | IPause | IYield | IWait of int

type wait =
  | Sleep of int
  | Pause
  | Yield
  | Timeout of int
  | With_timeout of int * inner
  | Wait of int
  | Burst of int * int

type act =
  | No_act
  | Wu of int * int
  | Wl of int * int
  | Cancel of int
  | Add_hook of int
  | Add_hook_first of int
  | Rm_hook of int
  | Rm_all of bool * int option
  | Spawn of int
  | At_exit of int
  | X_first of int
  | X_last of int
  | X_rm of int
  | X_rm_all
  | Exit

type hook = { enter : bool; runs : int; at_run : int; hact : act }
type exit_spec = { xwait : wait; xact : act; at_end : bool }

(* The program being run. *)
let unit_s = ref 0.01
let threads : (int * wait * act) array array ref = ref [||]
let hooks : hook array ref = ref [||]
let exits : exit_spec array ref = ref [||]
let exit_nodes : Lwt_main.Exit_hooks.hook option array ref = ref [||]
let waits : (int Lwt.t * int Lwt.u option ref) array ref = ref [||]
let promises : (int, int Lwt.t) Hashtbl.t = Hashtbl.create 16
let cleanup : (unit -> unit) list ref = ref []
let spawned : bool array ref = ref [||]
let installed : (unit -> unit) option array ref = ref [||] (* how to remove each hook *)
let hook_state : int array ref = ref [||] (* 0 never installed, 1 installed, 2 removed *)
let in_enter = ref false
let in_leave = ref false

(* Set by a remove_all of the kind of the hook running (cleared when it returns): an add_last of
   that kind is comparable then (the pass goes on through the removed hooks' links, which end
   where the list ended, so the new hook runs from the next pass, as on lwt-core). *)
let cleared_enter = ref false
let cleared_leave = ref false

(* The enter hook that counts iterations, kept the first of its list (moved in front after each
   add_first of an enter hook, added again after a remove_all of them), so that it has run in a
   pass before any other enter hook. *)
let counter : Lwt_main.Enter_iter_hooks.hook option ref = ref None
let live = ref 0
let finished : unit Lwt.u option ref = ref None
let thread0 : int Lwt.t option ref = ref None

let iteration = ref 0
let logging = ref false

(* Set once run returned: the threads go no further (a canceled step's continuation would make
   the next step's timers, which outlive the program). *)
let stopped = ref false

(* Whether the callback (or hook) running now has done its action: one per callback, the first
   reached (a chain of steps taken at once would otherwise do several). *)
let acted = ref false
let exits_registered = ref [||]

let log s = if !logging then Printf.printf "%d %s\n" !iteration s

let secs k = float_of_int k *. !unit_s

let outcome = function
  | Ok v -> "ok " ^ string_of_int v
  | Error Lwt.Canceled -> "C"
  | Error Lwt_unix.Timeout -> "T"
  | Error e -> "?" ^ String.map (fun c -> if c = ' ' then '_' else c) (Printexc.to_string e)

let short = function
  | Ok _ -> "ok"
  | e -> outcome e

let keep p = cleanup := (fun () -> Lwt.cancel p) :: !cleanup

let sleep k =
  let p = Lwt_unix.sleep (secs k) in
  keep p;
  p

let yield () = (Lwt_main.yield [@ocaml.alert "-deprecated"]) ()

let pause () =
  let p = Lwt.pause () in
  keep p;
  p

let yld () =
  let p = yield () in
  keep p;
  p

let resolved w =
  match Lwt.state (fst !waits.(w)) with Lwt.Return v -> Some v | _ -> None

let make label = function
  | Sleep k -> Lwt.map (fun () -> 0) (sleep k)
  | Pause -> Lwt.map (fun () -> 0) (pause ())
  | Yield -> Lwt.map (fun () -> 0) (yld ())
  | Timeout k ->
      let p = Lwt_unix.timeout (secs k) in
      keep p;
      p
  | With_timeout (k, inner) ->
      let p =
        Lwt_unix.with_timeout (secs k) (fun () ->
            match inner with
            | ISleep j -> Lwt.map (fun () -> 0) (sleep j)
            | IPause -> Lwt.map (fun () -> 0) (pause ())
            | IYield -> Lwt.map (fun () -> 0) (yld ())
            | IWait w -> fst !waits.(w))
      in
      keep p;
      p
  | Wait w -> fst !waits.(w)
  | Burst (k, n) ->
      let p =
        Lwt.join
          (List.init n (fun j ->
               let s = sleep k in
               Lwt.try_bind
                 (fun () -> s)
                 (fun () -> log (Printf.sprintf "b%d.%d ok" label j); Lwt.return_unit)
                 (fun e ->
                   log (Printf.sprintf "b%d.%d %s" label j (outcome (Error e)));
                   Lwt.return_unit)))
      in
      keep p;
      Lwt.map (fun () -> 0) p

let rec step tid i : int Lwt.t =
  let steps = !threads.(tid) in
  if i >= Array.length steps || !stopped then Lwt.return 0
  else
    let label, w, a = steps.(i) in
    match w with
    | (Wait x | With_timeout (_, IWait x)) when resolved x <> None ->
        let v = match resolved x with Some v -> v | None -> 0 in
        log (Printf.sprintf "%d now %d" label v);
        let next = step tid (i + 1) in
        act a;
        next
    | _ ->
        let p = make label w in
        Hashtbl.replace promises label p;
        let cont r =
          let was = !acted in
          acted := false;
          log (Printf.sprintf "%d %s" label (outcome r));
          let next = step tid (i + 1) in
          act a;
          acted := was;
          next
        in
        Lwt.try_bind (fun () -> p) (fun v -> cont (Ok v)) (fun e -> cont (Error e))

and start tid =
  if tid < Array.length !threads && not !spawned.(tid) then begin
    !spawned.(tid) <- true;
    incr live;
    let t = step tid 0 in
    if tid = 0 then thread0 := Some t;
    Lwt.on_termination t (fun () ->
        decr live;
        if !live = 0 then
          match !finished with
          | Some r ->
              finished := None;
              Lwt.wakeup r ()
          | None -> ())
  end

and resolve w f =
  if w < Array.length !waits then
    let _, r = !waits.(w) in
    match !r with
    | Some u ->
        r := None;
        f u
    | None -> ()

and act a =
  if not !stopped && a <> No_act && not !acted then begin
    acted := true;
    act_now a
  end

and act_now = function
  | No_act -> ()
  | Wu (w, v) -> resolve w (fun u -> Lwt.wakeup u v)
  | Wl (w, v) -> resolve w (fun u -> Lwt.wakeup_later u v)
  | Cancel l -> ( match Hashtbl.find_opt promises l with Some p -> Lwt.cancel p | None -> ())
  | Add_hook h -> add_hook false h
  | Add_hook_first h -> add_hook true h
  | Rm_hook h -> rm_hook h
  | Rm_all (enter, then_add) -> (
      rm_all enter;
      match then_add with Some h -> add_hook false h | None -> ())
  | Spawn t -> start t
  | Exit -> if not (!in_enter || !in_leave) then exit 0
  | (At_exit _ | X_first _ | X_last _ | X_rm _ | X_rm_all) as a -> exit_act a

(* An exit-hook act, from a step, an iteration hook, the top level, or an exit hook as it runs
   (then after run returned too: stopped does not apply). *)
and exit_act = function
  | At_exit x -> add_exit 0 x
  | X_first x -> add_exit 1 x
  | X_last x -> add_exit 2 x
  | X_rm x -> (
      if x < Array.length !exit_nodes then
        match !exit_nodes.(x) with Some n -> Lwt_main.Exit_hooks.remove n | None -> ())
  | X_rm_all -> Lwt_main.Exit_hooks.remove_all ()
  (* From an exit hook: the process ends at once (OCaml runs Lwt's exit handler once). *)
  | Exit -> exit 0
  | _ -> ()

and add_exit how x =
  if x < Array.length !exits && not !exits_registered.(x) then begin
    !exits_registered.(x) <- true;
    let spec = !exits.(x) in
    let ended r =
      log (Printf.sprintf "X%d %s" x (short r));
      if spec.at_end then exit_act spec.xact;
      Lwt.return_unit
    in
    let f () =
      log (Printf.sprintf "X%d start" x);
      if not spec.at_end then exit_act spec.xact;
      let p = make (-1) spec.xwait in
      Lwt.try_bind (fun () -> p) (fun v -> ended (Ok v)) (fun e -> ended (Error e))
    in
    match how with
    | 0 -> Lwt_main.at_exit f
    | 1 -> !exit_nodes.(x) <- Some (Lwt_main.Exit_hooks.add_first f)
    | _ -> !exit_nodes.(x) <- Some (Lwt_main.Exit_hooks.add_last f)
  end

and add_hook first h =
  if h < Array.length !hooks && !hook_state.(h) = 0 then begin
    let spec = !hooks.(h) in
    let busy = if spec.enter then !in_enter else !in_leave in
    let cleared = if spec.enter then !cleared_enter else !cleared_leave in
    if first || not busy || cleared then begin
      !hook_state.(h) <- 1;
      let runs = ref 0 in
      let flag = if spec.enter then in_enter else in_leave in
      let clear_flag = if spec.enter then cleared_enter else cleared_leave in
      let f () =
        let was = !flag in
        flag := true;
        let was_cleared = !clear_flag in
        clear_flag := false;
        let was_acted = !acted in
        acted := false;
        incr runs;
        log (Printf.sprintf "%s%d" (if spec.enter then "E" else "L") h);
        if !runs = spec.at_run then act spec.hact;
        if !runs = spec.runs then rm_hook h;
        flag := was;
        clear_flag := was_cleared;
        acted := was_acted
      in
      let remove =
        if spec.enter then
          let node =
            (if first then Lwt_main.Enter_iter_hooks.add_first
             else Lwt_main.Enter_iter_hooks.add_last)
              f
          in
          fun () -> Lwt_main.Enter_iter_hooks.remove node
        else
          let node =
            (if first then Lwt_main.Leave_iter_hooks.add_first
             else Lwt_main.Leave_iter_hooks.add_last)
              f
          in
          fun () -> Lwt_main.Leave_iter_hooks.remove node
      in
      !installed.(h) <- Some remove;
      if first && spec.enter then add_counter ()
    end
  end

(* Adds the counter first; removes the one there was. *)
and add_counter () =
  (match !counter with Some c -> Lwt_main.Enter_iter_hooks.remove c | None -> ());
  counter := Some (Lwt_main.Enter_iter_hooks.add_first (fun () -> incr iteration))

and rm_all enter =
  if enter then begin
    Lwt_main.Enter_iter_hooks.remove_all ();
    (* The counter went too. *)
    counter := None;
    add_counter ()
  end
  else Lwt_main.Leave_iter_hooks.remove_all ();
  Array.iteri
    (fun h spec -> if spec.enter = enter && !hook_state.(h) = 1 then !hook_state.(h) <- 2)
    !hooks;
  if enter && !in_enter then cleared_enter := true;
  if (not enter) && !in_leave then cleared_leave := true

and rm_hook h =
  if h < Array.length !hooks && !hook_state.(h) = 1 then begin
    !hook_state.(h) <- 2;
    match !installed.(h) with Some remove -> remove () | None -> ()
  end

(* ---- parsing ---- *)

let words line = List.filter (fun w -> w <> "") (String.split_on_char ' ' (String.trim line))

let int = int_of_string

let parse_inner = function
  | "s" :: k :: rest -> (ISleep (int k), rest)
  | "p" :: rest -> (IPause, rest)
  | "y" :: rest -> (IYield, rest)
  | "w" :: i :: rest -> (IWait (int i), rest)
  | w -> raise (Bad ("inner " ^ String.concat " " w))

let parse_wait = function
  | "s" :: k :: rest -> (Sleep (int k), rest)
  | "p" :: rest -> (Pause, rest)
  | "y" :: rest -> (Yield, rest)
  | "t" :: k :: rest -> (Timeout (int k), rest)
  | "wt" :: k :: rest ->
      let i, rest = parse_inner rest in
      (With_timeout (int k, i), rest)
  | "w" :: i :: rest -> (Wait (int i), rest)
  | "b" :: k :: n :: rest -> (Burst (int k, int n), rest)
  | w -> raise (Bad ("wait " ^ String.concat " " w))

let parse_act = function
  | [ "-" ] -> No_act
  | [ "wu"; w; v ] -> Wu (int w, int v)
  | [ "wl"; w; v ] -> Wl (int w, int v)
  | [ "x"; l ] -> Cancel (int l)
  | [ "ah"; h ] -> Add_hook (int h)
  | [ "af"; h ] -> Add_hook_first (int h)
  | [ "rh"; h ] -> Rm_hook (int h)
  | [ "ra"; k ] -> Rm_all (k = "E", None)
  | [ "ra"; k; h ] -> Rm_all (k = "E", Some (int h))
  | [ "sp"; t ] -> Spawn (int t)
  | [ "ae"; x ] -> At_exit (int x)
  | [ "xf"; x ] -> X_first (int x)
  | [ "xl"; x ] -> X_last (int x)
  | [ "xr"; x ] -> X_rm (int x)
  | [ "xra" ] -> X_rm_all
  | [ "ex" ] -> Exit
  | w -> raise (Bad ("act " ^ String.concat " " w))

let read_words () = words (input_line stdin)

(* Runs one program; returns whether it registered exit hooks (the process must then exit). *)
let run_program header =
  let mode, unit_ms, nwaits, guard, nthreads, nhooks, nexits, runs =
    match header with
    | [ "prog"; m; u; w; g; t; h; x ] -> (m, int u, int w, int g, int t, int h, int x, 1)
    | [ "prog"; m; u; w; g; t; h; x; r ] -> (m, int u, int w, int g, int t, int h, int x, int r)
    | _ -> raise (Bad ("header " ^ String.concat " " header))
  in
  ignore mode;
  unit_s := float_of_int unit_ms /. 1000.;
  threads := Array.make nthreads [||];
  hooks := Array.make nhooks { enter = true; runs = 0; at_run = 0; hact = No_act };
  exits := Array.make nexits { xwait = Pause; xact = No_act; at_end = false };
  let tops = ref [] in
  let rec body () =
    match read_words () with
    | [ "end" ] -> ()
    | [] -> body ()
    | [ "T"; t; n ] ->
        !threads.(int t) <-
          Array.init (int n) (fun _ ->
              match read_words () with
              | "S" :: l :: rest ->
                  let w, rest = parse_wait rest in
                  (int l, w, parse_act rest)
              | w -> raise (Bad ("step " ^ String.concat " " w)));
        body ()
    | "H" :: h :: k :: runs :: at :: rest ->
        !hooks.(int h) <-
          { enter = k = "E"; runs = int runs; at_run = int at; hact = parse_act rest };
        body ()
    | "X" :: x :: rest ->
        let w, rest = parse_wait rest in
        let xact, at_end =
          match rest with
          | [] -> (No_act, false)
          | wh :: a -> (parse_act a, wh = "E")
        in
        !exits.(int x) <- { xwait = w; xact; at_end };
        body ()
    | "G" :: rest ->
        tops := parse_act rest :: !tops;
        body ()
    | w -> raise (Bad ("line " ^ String.concat " " w))
  in
  body ();
  waits := Array.init nwaits (fun _ -> let p, u = Lwt.wait () in (p, ref (Some u)));
  Hashtbl.reset promises;
  cleanup := [];
  spawned := Array.make nthreads false;
  exits_registered := Array.make nexits false;
  exit_nodes := Array.make nexits None;
  installed := Array.make nhooks None;
  hook_state := Array.make nhooks 0;
  in_enter := false;
  in_leave := false;
  cleared_enter := false;
  cleared_leave := false;
  live := 0;
  thread0 := None;
  stopped := false;
  (* Bring libev's cached clock up to date: timers count from it. *)
  Lwt_engine.iter false;
  iteration := 0;
  counter := None;
  add_counter ();
  logging := true;
  let all_done, r = Lwt.wait () in
  finished := Some r;
  live := 1;
  List.iter (fun a -> acted := false; act a) (List.rev !tops);
  decr live;
  if !live = 0 then finished := None;
  let all_done = if !live = 0 then Lwt.return_unit else all_done in
  let g = sleep guard in
  let g = Lwt.map (fun () -> log "guard") g in
  if runs = 2 then begin
    let first = match !thread0 with Some t -> Lwt.map ignore t | None -> Lwt.return_unit in
    Lwt_main.run (Lwt.choose [ first; g ]);
    log "end1"
  end;
  Lwt_main.run (Lwt.choose [ all_done; g ]);
  log "end";
  logging := false;
  stopped := true;
  List.iter (fun f -> f ()) !cleanup;
  nexits > 0

let () =
  let rec loop () =
    match read_words () with
    | exception End_of_file -> ()
    | [] -> loop ()
    | header ->
        let exits_phase = run_program header in
        if exits_phase then begin
          (* The exit hooks run as the process exits (Lwt's own Stdlib.at_exit). *)
          logging := true;
          exit 0
        end;
        (match !counter with Some c -> Lwt_main.Enter_iter_hooks.remove c | None -> ());
        counter := None;
        Array.iteri (fun h _ -> rm_hook h) !hooks;
        print_endline "done";
        loop ()
  in
  loop ()
