(* The OCaml side of lwt-core's differential test of Lwt_stream's consumers
   (tests/ocaml_diff_stream.rs): an interpreter that runs straight-line programs over a few
   streams (create, a scripted from, of_list, and wrap_exn, map_list(_s), flatten over them) and
   a pool of int promises on real Lwt, and prints the state of every slot after every operation,
   what the queries saw, and which callbacks ran.

   Build: ocamlfind ocamlopt -package lwt -linkpkg lwt_diff_stream.ml -o lwt_diff_stream
   (ocaml_diff_stream.rs does it). Input, on stdin, any number of programs:

     prog <slots>
     <one operation per line>
     end

   Output, per program: "T <state>..." after every operation (the states of all slots, with ':'
   for ' '), "Q <op> <text>" for what the query at operation <op> (counted from 0) saw,
   "K <op> <stream> <what>" for every callback and generator call (in the order they ran),
   then "done". A state is "X" (no promise), "P" (pending), "F <v>", "R C" (Canceled),
   "R <n>" (Fail n), "R closed" (Lwt_stream.Closed) or "R ?<text>". An exception escaping an
   operation is printed as "E <text>" and ends the program.

   Every promise is an int promise: a stream read gives the element, or -1 for None; a list
   gives [combine] of it; unit is 0.

     NS s                    Lwt_stream.create
     FR s <script>           Lwt_stream.from, its generator's k-th call answering with the k-th
                             word of the script (',' separated; "-" for none): "vX" (Some X at
                             once), "e" (None at once), "fN" (Lwt.fail (Fail N)), "rN" (raise
                             (Fail N)), "w" / "t" (a callback promise of owner "g<s>", of
                             Lwt.wait / Lwt.task, see CR: a value v < 0 gives None); a call
                             past the script's end is "w"
     OL s <xs>               Lwt_stream.of_list (',' separated, "-" for empty)
     WX t s                  t = map enc (wrap_exn s): Ok x is x, Error (Fail n) 10000 + n,
                             Error Canceled 20000, another error 30000
     MA t s | MS t s m       t = map_list lst s | map_list_s (a callback of owner "m<t>",
                             mode m, whose value v gives lst v) s
     FT t s                  t = flatten (map lst s)
     PU s x | CL s           push (Some x) (query "ok" / "closed"), push None (Closed ignored)
     GT d s | PK d s         get, peek
     GA s | SQ s             queries: get_available, is_closed
     FO d s r                fold (fun x acc -> (acc * 131 + x) mod md) s 7; with r = "r",
                             f raises Fail (x mod 9 + 1) when x mod 4 = 0 ("-": never)
     FS d s m                fold_s, the callback's value v in place of x
     FD d s t | FM d s t     find (x >= t), find_map (Some (x + 1000) if x >= t)
     FN d s m | FP d s m     find_s (found if v is even), find_map_s (Some (v + 2000) unless
                             v mod 3 = 0)
     IT d s r                iter (logs its calls; raises as FO's f)
     IS d s m | IP d s m     iter_s, iter_p
     IN d s n m              iter_n ~max_concurrency:n
     TL d s                  to_list
     PA d s k m              parse s (fun s -> nget k s >>= fun l -> cb (combine l)), the
                             callback's mode m "w" or "t" (owner "c<d>")
     PN d s k m              parse s (fun s -> nget k s >>= fun l1 -> catch (fun () -> parse s
                             (fun s -> nget 1 s >>= fun l2 -> cb (combine (l1 @ l2)))) (fun _ ->
                             nget 1 s >>= fun l -> c = combine l: return c if even, else fail
                             (Fail 9)))
     CR o j v | CF o j n     resolve the j-th oldest pending callback promise of owner o with v,
                             or reject it with Fail n
     X d                     cancel slot d
     AC d <act>              the callback of the consumer into slot d (made next) does <act>
                             first at its first call: "P u x" push (Some x) to stream u, "C u"
                             push None (Closed ignored), "X e" cancel slot e, "W o v" as
                             "CR o 0 v"

   A callback (of owner "c<d>" for the consumer in slot d) is called on x, logged as "cb <owner>
   x", and answers by its mode m: "w" a fresh Lwt.wait promise (CR / CF), "t" a fresh Lwt.task
   promise (which a cancel of the consumer reaches), "v" return x, "f" fail (Fail (x mod 9 + 1))
   if x mod 4 = 0 and return x otherwise, "r" the same with a raise. lst v is [] if
   v mod 3 = 0, [v] if v mod 3 = 1, [v; v + 500] otherwise.

   A generator or callback that raises at the call of an operation makes Lwt's function raise
   (not reject): the interpreter turns that into a rejected promise for the slot, as lwt-core
   gives one (its README: a panic in a callback rejects its promise), and says so in the query
   "raised <n>"; a raising get_available gives the query "raised <n>" too. *)

exception Fail of int

let md = 1_000_003

let combine l = List.fold_left (fun acc v -> ((acc * 131) + v) mod md) 7 l

let lst v = if v mod 3 = 0 then [] else if v mod 3 = 1 then [ v ] else [ v; v + 500 ]

type stream = Pushed of int Lwt_stream.t * (int option -> unit) | Plain of int Lwt_stream.t

let n_streams = 6

let slots : int Lwt.t option array ref = ref [||]

let streams : stream option array ref = ref [||]

(* The family of each stream: the stream it was made from, at the root. *)
let family : int array ref = ref [||]

let queries : string list ref = ref []

let cur = ref 0

let calls : string list ref = ref []

let cbs : (string, int Lwt.u option ref list) Hashtbl.t = Hashtbl.create 8

let call fam what = calls := Printf.sprintf "K %d %d %s" !cur fam what :: !calls

(* What the first call of a consumer's callback does first (AC), by owner, until it is made. *)
let acts : (string, unit -> unit) Hashtbl.t = Hashtbl.create 8

let act_first owner =
  match Hashtbl.find_opt acts owner with
  | Some f ->
      Hashtbl.remove acts owner;
      f ()
  | None -> ()

let pending ?(task = false) owner =
  let p, r = if task then Lwt.task () else Lwt.wait () in
  let l = try Hashtbl.find cbs owner with Not_found -> [] in
  Hashtbl.replace cbs owner (l @ [ ref (Some r) ]);
  p

let callback owner fam mode x =
  call fam (Printf.sprintf "cb %s %d" owner x);
  act_first owner;
  match mode with
  | "w" -> pending owner
  | "t" -> pending ~task:true owner
  | "v" -> Lwt.return x
  | "f" -> if x mod 4 = 0 then Lwt.fail (Fail ((x mod 9) + 1)) else Lwt.return x
  | "r" -> if x mod 4 = 0 then raise (Fail ((x mod 9) + 1)) else Lwt.return x
  | _ -> failwith ("bad mode " ^ mode)

let cb_wake owner j f =
  let pend = List.filter (fun r -> !r <> None) (try Hashtbl.find cbs owner with Not_found -> []) in
  match List.nth_opt pend j with
  | Some ({ contents = Some u } as r) ->
      r := None;
      f u
  | _ -> ()

let exn_text = function
  | Lwt.Canceled -> "C"
  | Fail n -> string_of_int n
  | Lwt_stream.Closed -> "closed"
  | Lwt_stream.Empty -> "empty"
  | e -> "?" ^ String.map (fun c -> if c = ' ' || c = '\n' then '_' else c) (Printexc.to_string e)

let get a i = if i >= 0 && i < Array.length !a then !a.(i) else None

let opt = function Some x -> x | None -> -1

let stream_of = function Pushed (s, _) | Plain s -> s

let query k text = queries := Printf.sprintf "Q %d %s" k text :: !queries

let list_text l = "[" ^ String.concat "," (List.map string_of_int l) ^ "]"

let ints w = if w = "-" then [] else List.map int_of_string (String.split_on_char ',' w)

let words_of w = if w = "-" then [] else String.split_on_char ',' w

let generator s script =
  let script = Array.of_list (words_of script) in
  let k = ref 0 in
  fun () ->
    let a = if !k < Array.length script then script.(!k) else "w" in
    call s (Printf.sprintf "gen %d" !k);
    incr k;
    let n () = int_of_string (String.sub a 1 (String.length a - 1)) in
    match a.[0] with
    | ('w' | 't') as c ->
        Lwt.map
          (fun v -> if v < 0 then None else Some v)
          (pending ~task:(c = 't') (Printf.sprintf "g%d" s))
    | 'v' -> Lwt.return (Some (n ()))
    | 'e' -> Lwt.return None
    | 'f' -> Lwt.fail (Fail (n ()))
    | 'r' -> raise (Fail (n ()))
    | _ -> failwith ("bad answer " ^ a)

let enc = function
  | Ok x -> x
  | Error (Fail n) -> 10000 + n
  | Error Lwt.Canceled -> 20000
  | Error _ -> 30000

let op k words =
  let i = int_of_string in
  let with_stream s f = match get streams (i s) with Some x -> f (stream_of x) | None -> () in
  let fam s = !family.(i s) in
  (* A consumer into slot d; a raise at its call becomes its rejection (see the top). *)
  let to_slot d f =
    let p =
      try f ()
      with Fail n ->
        query k (Printf.sprintf "raised %d" n);
        Lwt.fail (Fail n)
    in
    !slots.(i d) <- Some p
  in
  let consume d s f = with_stream s (fun st -> to_slot d (fun () -> f st)) in
  let cb d s m = callback ("c" ^ d) (fam s) m in
  let derive t s f =
    with_stream s (fun st ->
        !family.(i t) <- fam s;
        !streams.(i t) <- Some (Plain (f st)))
  in
  match words with
  | [ "NS"; s ] ->
      let st, push = Lwt_stream.create () in
      !family.(i s) <- i s;
      !streams.(i s) <- Some (Pushed (st, push))
  | [ "FR"; s; script ] ->
      !family.(i s) <- i s;
      !streams.(i s) <- Some (Plain (Lwt_stream.from (generator (i s) script)))
  | [ "OL"; s; xs ] ->
      !family.(i s) <- i s;
      !streams.(i s) <- Some (Plain (Lwt_stream.of_list (ints xs)))
  | [ "WX"; t; s ] -> derive t s (fun st -> Lwt_stream.map enc (Lwt_stream.wrap_exn st))
  | [ "MA"; t; s ] -> derive t s (fun st -> Lwt_stream.map_list lst st)
  | [ "MS"; t; s; m ] ->
      derive t s (fun st ->
          Lwt_stream.map_list_s (fun x -> Lwt.map lst (callback ("m" ^ t) (fam s) m x)) st)
  | [ "FT"; t; s ] -> derive t s (fun st -> Lwt_stream.flatten (Lwt_stream.map lst st))
  | [ "PU"; s; x ] -> (
      match get streams (i s) with
      | Some (Pushed (_, push)) -> (
          match push (Some (i x)) with
          | () -> query k "ok"
          | exception Lwt_stream.Closed -> query k "closed")
      | Some (Plain _) | None -> ())
  | [ "CL"; s ] -> (
      match get streams (i s) with
      | Some (Pushed (_, push)) -> ( try push None with Lwt_stream.Closed -> ())
      | Some (Plain _) | None -> ())
  | [ "GT"; d; s ] -> consume d s (fun st -> Lwt.map opt (Lwt_stream.get st))
  | [ "PK"; d; s ] -> consume d s (fun st -> Lwt.map opt (Lwt_stream.peek st))
  | [ "GA"; s ] ->
      with_stream s (fun st ->
          match Lwt_stream.get_available st with
          | l -> query k (list_text l)
          | exception e -> query k ("raised " ^ exn_text e))
  | [ "SQ"; s ] -> with_stream s (fun st -> query k (string_of_bool (Lwt_stream.is_closed st)))
  | [ "FO"; d; s; r ] ->
      consume d s (fun st ->
          Lwt_stream.fold
            (fun x acc ->
              if r = "r" && x mod 4 = 0 then raise (Fail ((x mod 9) + 1));
              ((acc * 131) + x) mod md)
            st 7)
  | [ "FS"; d; s; m ] ->
      consume d s (fun st ->
          Lwt_stream.fold_s
            (fun x acc -> Lwt.map (fun v -> ((acc * 131) + v) mod md) (cb d s m x))
            st 7)
  | [ "FD"; d; s; t ] -> consume d s (fun st -> Lwt.map opt (Lwt_stream.find (fun x -> x >= i t) st))
  | [ "FM"; d; s; t ] ->
      consume d s (fun st ->
          Lwt.map opt (Lwt_stream.find_map (fun x -> if x >= i t then Some (x + 1000) else None) st))
  | [ "FN"; d; s; m ] ->
      consume d s (fun st ->
          Lwt.map opt (Lwt_stream.find_s (fun x -> Lwt.map (fun v -> v mod 2 = 0) (cb d s m x)) st))
  | [ "FP"; d; s; m ] ->
      consume d s (fun st ->
          Lwt.map opt
            (Lwt_stream.find_map_s
               (fun x -> Lwt.map (fun v -> if v mod 3 <> 0 then Some (v + 2000) else None) (cb d s m x))
               st))
  | [ "IT"; d; s; r ] ->
      consume d s (fun st ->
          Lwt.map
            (fun () -> 0)
            (Lwt_stream.iter
               (fun x ->
                 call (fam s) (Printf.sprintf "cb c%s %d" d x);
                 act_first ("c" ^ d);
                 if r = "r" && x mod 4 = 0 then raise (Fail ((x mod 9) + 1)))
               st))
  | [ "IS"; d; s; m ] ->
      consume d s (fun st ->
          Lwt.map (fun () -> 0) (Lwt_stream.iter_s (fun x -> Lwt.map ignore (cb d s m x)) st))
  | [ "IP"; d; s; m ] ->
      consume d s (fun st ->
          Lwt.map (fun () -> 0) (Lwt_stream.iter_p (fun x -> Lwt.map ignore (cb d s m x)) st))
  | [ "IN"; d; s; n; m ] ->
      consume d s (fun st ->
          Lwt.map
            (fun () -> 0)
            (Lwt_stream.iter_n ~max_concurrency:(i n) (fun x -> Lwt.map ignore (cb d s m x)) st))
  | [ "TL"; d; s ] -> consume d s (fun st -> Lwt.map combine (Lwt_stream.to_list st))
  | [ "PA"; d; s; n; m ] ->
      consume d s (fun st ->
          Lwt_stream.parse st (fun st ->
              Lwt.bind (Lwt_stream.nget (i n) st) (fun l -> cb d s m (combine l))))
  | [ "PN"; d; s; n; m ] ->
      consume d s (fun st ->
          Lwt_stream.parse st (fun st ->
              Lwt.bind (Lwt_stream.nget (i n) st) (fun l1 ->
                  Lwt.catch
                    (fun () ->
                      Lwt_stream.parse st (fun st ->
                          Lwt.bind (Lwt_stream.nget 1 st) (fun l2 -> cb d s m (combine (l1 @ l2)))))
                    (fun _ ->
                      Lwt.bind (Lwt_stream.nget 1 st) (fun l ->
                          let c = combine l in
                          if c mod 2 = 0 then Lwt.return c else Lwt.fail (Fail 9))))))
  | [ "CR"; o; j; v ] -> cb_wake o (i j) (fun u -> Lwt.wakeup u (i v))
  | [ "CF"; o; j; n ] -> cb_wake o (i j) (fun u -> Lwt.wakeup_exn u (Fail (i n)))
  | [ "X"; d ] -> (match get slots (i d) with Some p -> Lwt.cancel p | None -> ())
  | "AC" :: d :: a ->
      let push u x =
        match get streams (i u) with
        | Some (Pushed (_, push)) -> ( try push x with Lwt_stream.Closed -> ())
        | Some (Plain _) | None -> ()
      in
      let f =
        match a with
        | [ "P"; u; v ] -> fun () -> push u (Some (i v))
        | [ "C"; u ] -> fun () -> push u None
        | [ "X"; e ] -> fun () -> ( match get slots (i e) with Some p -> Lwt.cancel p | None -> ())
        | [ "W"; o; v ] -> fun () -> cb_wake o 0 (fun u -> Lwt.wakeup u (i v))
        | _ -> failwith "bad action"
      in
      Hashtbl.replace acts ("c" ^ d) f
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
  streams := Array.make n_streams None;
  family := Array.make n_streams 0;
  queries := [];
  calls := [];
  Hashtbl.reset cbs;
  Hashtbl.reset acts;
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
  print_endline "done";
  slots := [||];
  streams := [||]

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
