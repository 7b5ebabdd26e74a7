(* What Lwt 5.6.1 does when a hook calls [exit] (ocaml_diff_loop.rs's
   exit_from_a_hook_runs_no_hook_of_its_list_while_the_exit_hooks_run, which compiles and runs
   this when OCaml and Lwt are installed): enter hooks A then E, E calling [exit] at its first
   run; a leave hook L; an exit hook that waits for a sleep. Lwt's Stdlib.at_exit handler runs
   the exit hooks in a nested Lwt_main.run, whose iterations walk the whole enter hook sequence
   again, E (still running, on the stack) included.
   Prints: A E exit-hook-start A E exit-hook-done L (one a line). *)

open Lwt.Infix

let log s = print_endline s

let () =
  let first = ref true in
  ignore (Lwt_main.Enter_iter_hooks.add_last (fun () -> log "A"));
  ignore
    (Lwt_main.Enter_iter_hooks.add_last (fun () ->
         log "E";
         if !first then begin
           first := false;
           exit 0
         end));
  ignore (Lwt_main.Leave_iter_hooks.add_last (fun () -> log "L"));
  Lwt_main.at_exit (fun () ->
      log "exit-hook-start";
      Lwt_unix.sleep 0.01 >|= fun () -> log "exit-hook-done");
  Lwt_main.run (Lwt_unix.sleep 0.05);
  log "not reached"
