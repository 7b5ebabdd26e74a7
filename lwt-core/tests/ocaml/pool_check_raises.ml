(* Lwt 5.6.1: a [check] that raises leaves Lwt_pool.use with the element neither given back nor
   disposed of, and its slot taken for ever. When the use's body failed at once, the exception
   escapes [Lwt_pool.use] itself (Lwt.catch calls its handler directly on a rejected promise);
   when it failed later, the use is rejected with the check's exception. Either way the next use
   of a pool of 1 waits for ever. lwt-core disposes of the element and frees its slot (the pool
   module docs; pinned by a_raising_check_keeps_its_slot_in_lwt in ocaml_diff_pool.rs).

   ocamlfind ocamlopt -package lwt -linkpkg pool_check_raises.ml -o pool_check_raises
   Prints:
     escaped: Pool_check_raises.Fail(7)
     next use: pending
     late: rejected with Pool_check_raises.Fail(7)
     next use: pending *)

exception Fail of int

let state p =
  match Lwt.state p with
  | Lwt.Sleep -> "pending"
  | Lwt.Return _ -> "fulfilled"
  | Lwt.Fail e -> "rejected with " ^ Printexc.to_string e

let pool () = Lwt_pool.create 1 ~check:(fun _ _ -> raise (Fail 7)) (fun () -> Lwt.return 1)

let () =
  let p = pool () in
  (try ignore (Lwt_pool.use p (fun _ -> Lwt.fail (Fail 3)))
   with e -> print_endline ("escaped: " ^ Printexc.to_string e));
  print_endline ("next use: " ^ state (Lwt_pool.use p Lwt.return));
  let p = pool () in
  let body, r = Lwt.wait () in
  let used = Lwt_pool.use p (fun _ -> body) in
  Lwt.wakeup_exn r (Fail 3);
  print_endline ("late: " ^ state used);
  print_endline ("next use: " ^ state (Lwt_pool.use p Lwt.return))
