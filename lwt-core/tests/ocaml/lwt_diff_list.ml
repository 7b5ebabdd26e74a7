(* The OCaml side of lwt-core's differential test of Lwt_list and Lwt_switch
   (tests/ocaml_diff_list.rs): an interpreter that runs small programs on real Lwt and prints,
   after every top-level operation, the state of the promises involved, and every call of the
   program's callbacks with the operation it happened in.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff_list.ml -o lwt_diff_list
   (ocaml_diff_list.rs does it). Input, on stdin, any number of programs of either kind:

     list <function> <n>          one call of Lwt_list.<function> over n elements
     e <x> <reply>                n lines, the elements in order and what f answers for each
     <one operation per line>
     end

     switch <slots>
     <one operation per line>
     end

   A list program: f, called on element k (x), logs "C <op> <k> <extra>" (extra: the index for
   iteri_* / mapi_*, the accumulator for the folds, "-" otherwise) and answers with <reply>:
   "v <n>" (Lwt.return n), "f <n>" (Lwt.fail (Fail n)), "x <n>" (raise (Fail n)), "w" (Lwt.wait
   ()) or "t" (Lwt.task ()), "r <j> <n>" (first wakes element j's pending promise up with n,
   if it has one, then Lwt.return n) or "z <n>" (first cancels the result, if the call has
   returned it, then Lwt.return n). The answer n becomes what the function needs: a bool (n odd), an
   option (Some n unless n mod 3 = 0), the new accumulator ((acc * 31 + n) mod md), or a value.
   Operation 0 is the call itself; then "WU k n" / "WE k n" wake element k's pending promise up
   with n / Fail n (skipped if it has none or it was used), "X k" cancels element k's promise (if
   it was called), "XR" cancels the result. After each operation: "T <result> <step>..." where
   a state is "X" (not called), "P", "F:<value>" or "R:<exn>"; a value is "()", an int, "true",
   "false", "[1,2]", "[..]/[..]" (partition), and find_s's Not_found is printed as "F:none" (our
   find_s gives None).

   A switch program: switches 0..3 and a pool of unit promise slots.

     NS s                     s := Lwt_switch.create ()
     AH s l H                 add_hook (Some s) (hook l H): query "ok" or "off" (Off raised)
     AE d s l H               slot d := add_hook_or_exec (Some s) (hook l H); an exception
                              escaping it is the query "raised" and slot d := Lwt.fail e
     TO d s                   slot d := turn_off s
     IO s | CK s              queries: is_on s, check (Some s) ("ok" / "off")
     WS d s l H B             slot d := with_switch (fun sw -> s := sw; add_hook (hook l H); B)
     WU e | WE e n | X e      wakeup slot e's resolver with (), with Fail n; cancel slot e

   A hook l H logs "H <op> <l>" when it runs, then answers by H: "v" (return ()), "f.<n>"
   (fail), "x.<n>" (raise), "w.<e>" (a fresh Lwt.task in slot e), "o.<s>" (turn_off s, its
   promise), "a.<s>" (add_hook to s of hook 1000 v; query "a-ok" / "a-off", return ()). A body B
   is "v", "f.<n>", "x.<n>" or "w.<e>" alike. Operations on a switch that does not exist are
   skipped. After each operation: "T <slot>..."; queries "Q <op> <text>". A program ends with
   "done". *)

exception Fail of int

let md = 1_000_003

let cur = ref 0

let log = ref []

let out s = log := s :: !log

let flush_log () =
  List.iter print_endline (List.rev !log);
  log := []

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | Lwt_switch.Off -> "off"
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let state_text show = function
  | None -> "X"
  | Some p -> (
      match Lwt.state p with
      | Lwt.Sleep -> "P"
      | Lwt.Return v -> "F:" ^ show v
      | Lwt.Fail Not_found -> "F:none"
      | Lwt.Fail e -> "R:" ^ exn_text e)

let ints l = "[" ^ String.concat "," (List.map string_of_int l) ^ "]"

(* ---- list programs ---- *)

let steps : int Lwt.t option array ref = ref [||]

let resolvers : int Lwt.u option array ref = ref [||]

let reply_of : string list array ref = ref [||]

let elems : int array ref = ref [||]

(* Cancels the result, once the call has returned it. *)
let cancel_result = ref (fun () -> ())

let step k extra =
  out (Printf.sprintf "C %d %d %s" !cur k extra);
  match !reply_of.(k) with
  | [ "v"; n ] ->
      let p = Lwt.return (int_of_string n) in
      !steps.(k) <- Some p;
      p
  | [ "f"; n ] ->
      let p = Lwt.fail (Fail (int_of_string n)) in
      !steps.(k) <- Some p;
      p
  | [ "x"; n ] ->
      !steps.(k) <- Some (Lwt.fail (Fail (int_of_string n)));
      raise (Fail (int_of_string n))
  | [ "r"; j; n ] ->
      (match !resolvers.(int_of_string j) with
      | Some r ->
          !resolvers.(int_of_string j) <- None;
          Lwt.wakeup r (int_of_string n)
      | None -> ());
      let p = Lwt.return (int_of_string n) in
      !steps.(k) <- Some p;
      p
  | [ "z"; n ] ->
      !cancel_result ();
      let p = Lwt.return (int_of_string n) in
      !steps.(k) <- Some p;
      p
  | [ ("w" | "t") as how ] ->
      let p, r = if how = "w" then Lwt.wait () else Lwt.task () in
      !steps.(k) <- Some p;
      !resolvers.(k) <- Some r;
      p
  | r -> failwith ("bad reply " ^ String.concat " " r)

let index_of x =
  let rec go k = if !elems.(k) = x then k else go (k + 1) in
  go 0

let f x = step (index_of x) "-"

let fi i x = step (index_of x) (string_of_int i)

let bool n = n mod 2 <> 0

let fb x = Lwt.map bool (f x)

let fo x = Lwt.map (fun n -> if n mod 3 <> 0 then Some n else None) (f x)

let fold acc n = ((acc * 31) + n) mod md

let unit () = "()"

let ret show p () = state_text show (Some p)

let list_step_line result =
  out
    (String.concat " "
       ("T" :: result () :: Array.to_list (Array.map (state_text string_of_int) !steps)))

let run_list name es ops =
  let n = List.length es in
  steps := Array.make n None;
  resolvers := Array.make n None;
  elems := Array.of_list (List.map fst es);
  reply_of := Array.of_list (List.map snd es);
  cur := 0;
  cancel_result := (fun () -> ());
  let result =
    let module L = Lwt_list in
    let printer = ref (fun () -> "") in
    let keep p show =
      cancel_result := (fun () -> Lwt.cancel p);
      printer := ret show p
    in
    let u p = Lwt.map (fun _ -> ()) p in
    let l = !elems |> Array.to_list in
    (match name with
    | "iter_s" -> keep (L.iter_s (fun x -> u (f x)) l) unit
    | "iter_p" -> keep (L.iter_p (fun x -> u (f x)) l) unit
    | "iteri_s" -> keep (L.iteri_s (fun i x -> u (fi i x)) l) unit
    | "iteri_p" -> keep (L.iteri_p (fun i x -> u (fi i x)) l) unit
    | "map_s" -> keep (L.map_s f l) ints
    | "map_p" -> keep (L.map_p f l) ints
    | "mapi_s" -> keep (L.mapi_s fi l) ints
    | "mapi_p" -> keep (L.mapi_p fi l) ints
    | "rev_map_s" -> keep (L.rev_map_s f l) ints
    | "rev_map_p" -> keep (L.rev_map_p f l) ints
    | "fold_left_s" ->
        keep
          (L.fold_left_s (fun acc x -> Lwt.map (fold acc) (step (index_of x) (string_of_int acc))) 1 l)
          string_of_int
    | "fold_right_s" ->
        keep
          (L.fold_right_s (fun x acc -> Lwt.map (fold acc) (step (index_of x) (string_of_int acc))) l 1)
          string_of_int
    | "for_all_s" -> keep (L.for_all_s fb l) string_of_bool
    | "for_all_p" -> keep (L.for_all_p fb l) string_of_bool
    | "exists_s" -> keep (L.exists_s fb l) string_of_bool
    | "exists_p" -> keep (L.exists_p fb l) string_of_bool
    | "find_s" -> keep (L.find_s fb l) string_of_int
    | "filter_s" -> keep (L.filter_s fb l) ints
    | "filter_p" -> keep (L.filter_p fb l) ints
    | "filter_map_s" -> keep (L.filter_map_s fo l) ints
    | "filter_map_p" -> keep (L.filter_map_p fo l) ints
    | "partition_s" -> keep (L.partition_s fb l) (fun (a, b) -> ints a ^ "/" ^ ints b)
    | "partition_p" -> keep (L.partition_p fb l) (fun (a, b) -> ints a ^ "/" ^ ints b)
    | _ -> failwith ("bad function " ^ name));
    !printer
  in
  list_step_line result;
  List.iteri
    (fun k words ->
      cur := k + 1;
      let i = int_of_string in
      let resolve k how =
        let k = i k in
        if k < n then
          match !resolvers.(k) with
          | Some r ->
              !resolvers.(k) <- None;
              how r
          | None -> ()
      in
      (match words with
      | [ "WU"; k; v ] -> resolve k (fun r -> Lwt.wakeup r (i v))
      | [ "WE"; k; e ] -> resolve k (fun r -> Lwt.wakeup_exn r (Fail (i e)))
      | [ "X"; k ] -> (
          if i k < n then match !steps.(i k) with Some p -> Lwt.cancel p | None -> ())
      | [ "XR" ] -> !cancel_result ()
      | _ -> failwith ("bad operation " ^ String.concat " " words));
      list_step_line result)
    ops;
  flush_log ();
  print_endline "done"

(* ---- switch programs ---- *)

let n_switches = 4

let switches : Lwt_switch.t option array ref = ref [||]

let slots : unit Lwt.t option array ref = ref [||]

let sresolvers : unit Lwt.u option array ref = ref [||]

let query text = out (Printf.sprintf "Q %d %s" !cur text)

let get a i = if i >= 0 && i < Array.length !a then !a.(i) else None

let fresh e =
  let p, r = Lwt.task () in
  if e < Array.length !slots then (
    !slots.(e) <- Some p;
    !sresolvers.(e) <- Some r);
  p

let rec answer kind =
  let i = int_of_string in
  match String.split_on_char '.' kind with
  | [ "v" ] -> Lwt.return_unit
  | [ "f"; n ] -> Lwt.fail (Fail (i n))
  | [ "x"; n ] -> raise (Fail (i n))
  | [ "w"; e ] -> fresh (i e)
  | [ "o"; s ] -> ( match get switches (i s) with Some sw -> Lwt_switch.turn_off sw | None -> Lwt.return_unit)
  | [ "a"; s ] ->
      (match get switches (i s) with
      | Some sw -> (
          match Lwt_switch.add_hook (Some sw) (hook 1000 "v") with
          | () -> query "a-ok"
          | exception Lwt_switch.Off -> query "a-off")
      | None -> ());
      Lwt.return_unit
  | _ -> failwith ("bad answer " ^ kind)

and hook l kind () =
  out (Printf.sprintf "H %d %d" !cur l);
  answer kind

let switch_step_line () =
  out
    (String.concat " "
       ("T" :: Array.to_list (Array.map (state_text (fun () -> "()")) !slots)))

let run_switch n ops =
  switches := Array.make n_switches None;
  slots := Array.make n None;
  sresolvers := Array.make n None;
  List.iteri
    (fun k words ->
      cur := k;
      let i = int_of_string in
      let with_sw s f = match get switches (i s) with Some sw -> f sw | None -> () in
      let set d p = if i d < n then !slots.(i d) <- Some p in
      (match words with
      | [ "NS"; s ] -> !switches.(i s) <- Some (Lwt_switch.create ())
      | [ "AH"; s; l; h ] ->
          with_sw s (fun sw ->
              match Lwt_switch.add_hook (Some sw) (hook (i l) h) with
              | () -> query "ok"
              | exception Lwt_switch.Off -> query "off")
      | [ "AE"; d; s; l; h ] ->
          with_sw s (fun sw ->
              match Lwt_switch.add_hook_or_exec (Some sw) (hook (i l) h) with
              | p -> set d p
              | exception e ->
                  query "raised";
                  set d (Lwt.fail e))
      | [ "TO"; d; s ] -> with_sw s (fun sw -> set d (Lwt_switch.turn_off sw))
      | [ "IO"; s ] -> with_sw s (fun sw -> query (string_of_bool (Lwt_switch.is_on sw)))
      | [ "CK"; s ] ->
          with_sw s (fun sw ->
              match Lwt_switch.check (Some sw) with
              | () -> query "ok"
              | exception Lwt_switch.Off -> query "off")
      | [ "WS"; d; s; l; h; b ] ->
          set d
            (Lwt_switch.with_switch (fun sw ->
                 if i s < n_switches then !switches.(i s) <- Some sw;
                 Lwt_switch.add_hook (Some sw) (hook (i l) h);
                 answer b))
      | [ "WU"; e ] -> (
          match get sresolvers (i e) with
          | Some r ->
              !sresolvers.(i e) <- None;
              Lwt.wakeup r ()
          | None -> ())
      | [ "WE"; e; x ] -> (
          match get sresolvers (i e) with
          | Some r ->
              !sresolvers.(i e) <- None;
              Lwt.wakeup_exn r (Fail (i x))
          | None -> ())
      | [ "X"; e ] -> ( match get slots (i e) with Some p -> Lwt.cancel p | None -> ())
      | _ -> failwith ("bad operation " ^ String.concat " " words));
      switch_step_line ())
    ops;
  flush_log ();
  print_endline "done"

let words line = List.filter (fun w -> w <> "") (String.split_on_char ' ' (String.trim line))

let () =
  let rec body acc =
    match words (input_line stdin) with
    | [ "end" ] -> List.rev acc
    | [] -> body acc
    | w -> body (w :: acc)
  in
  let rec loop () =
    match input_line stdin with
    | exception End_of_file -> ()
    | line -> (
        match words line with
        | [ "list"; name; n ] ->
            let rec elems k acc =
              if k = 0 then List.rev acc
              else
                match words (input_line stdin) with
                | "e" :: x :: reply -> elems (k - 1) ((int_of_string x, reply) :: acc)
                | _ -> failwith "expected an element"
            in
            let es = elems (int_of_string n) [] in
            run_list name es (body []);
            loop ()
        | [ "switch"; n ] ->
            run_switch (int_of_string n) (body []);
            loop ()
        | [] -> loop ()
        | _ -> failwith ("expected a program, got: " ^ line))
  in
  loop ()
