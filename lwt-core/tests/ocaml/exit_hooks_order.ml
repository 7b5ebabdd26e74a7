(* The order of Lwt 5.6.1's exit hooks (Lwt_main.Exit_hooks: add_first, add_last, remove,
   remove_all, and at_exit), behind run_loop.rs's exit_hooks_run_in_lwts_order. Not part of any
   test run. Build and run (OCaml and lwt.unix installed):

     ocamlfind ocamlopt -thread -package lwt.unix -linkpkg exit_hooks_order.ml -o exit_hooks_order
     ./exit_hooks_order

   Output: main done, at_exit, a, late-first, b, d (c was removed; d's remove_all drops e and
   late-last). *)

let log s = print_endline s
let () =
  let _a = Lwt_main.Exit_hooks.add_first (fun () -> log "a"; ignore (Lwt_main.Exit_hooks.add_last (fun () -> log "late-last"; Lwt.return_unit)); ignore (Lwt_main.Exit_hooks.add_first (fun () -> log "late-first"; Lwt.return_unit)); Lwt.return_unit) in
  let _b = Lwt_main.Exit_hooks.add_last (fun () -> log "b"; Lwt.return_unit) in
  let c = Lwt_main.Exit_hooks.add_last (fun () -> log "c"; Lwt.return_unit) in
  let _d = Lwt_main.Exit_hooks.add_last (fun () -> log "d"; Lwt_main.Exit_hooks.remove_all (); Lwt.return_unit) in
  let _e = Lwt_main.Exit_hooks.add_last (fun () -> log "e"; Lwt.return_unit) in
  Lwt_main.Exit_hooks.remove c;
  Lwt_main.at_exit (fun () -> log "at_exit"; Lwt.return_unit);
  log "main done"
