(* What Lwt 5.6.1 does with the program of run_loop.rs's
   a_turn_whose_promise_an_enter_hook_resolves_still_polls_until_the_next_timer (the shape
   timers_fuzz met at seed 111, case 1809): a leave hook runs the exit hooks, whose turn of the
   loop runs an enter hook that runs the exit hooks again; that inner turn wakes the pauses the
   first exit hook waits for, resolving it inside the enter hook. The first turn still polls,
   blocking until the next timer (100 ms), and returns after it, as lwt-core's does.

   Build and run (not part of the test suite):
     ocamlfind ocamlopt -thread -package lwt.unix -linkpkg enter_hook_poll.ml -o enter_hook_poll
     ./enter_hook_poll

   lwt-core's run_exit_hooks, called inside the loop, turns the loop itself until each exit hook
   is done. Lwt does the same when [exit] is called from a callback or a hook: its Stdlib.at_exit
   handler runs [finished (); run (call_hooks ())], a nested Lwt_main.run. Calling Lwt_main.run
   directly from a hook is refused as nested, so [turn_until] is Lwt_main.run's inner loop, copied
   from lwt_main.ml 5.6.1 (without [yielded], which only Lwt_main.yield fills). *)
[@@@ocaml.warning "-3"]

open Lwt.Infix

let t0 = Unix.gettimeofday ()
let ms () = (Unix.gettimeofday () -. t0) *. 1000.
let events = ref []
let push s = Printf.printf "%7.1f ms  %s\n%!" (ms ()) s; events := s :: !events

let rec turn_until p =
  Lwt.wakeup_paused ();
  match Lwt.poll p with
  | Some x -> x
  | None ->
    Lwt_sequence.iter_l (fun f -> f ()) Lwt_main.enter_iter_hooks;
    Lwt_engine.iter (Lwt.paused_count () = 0);
    Lwt.wakeup_paused ();
    Lwt_sequence.iter_l (fun f -> f ()) Lwt_main.leave_iter_hooks;
    turn_until p

(* lwt-core's at_exit + run_exit_hooks, from inside the loop, for one hook. *)
let run_exit_hook hook = turn_until (Lwt.catch hook (fun _ -> Lwt.return_unit))

let () =
  let next_timer = Lwt_unix.sleep 0.1 >|= fun () -> push "next timer" in
  (* Lwt re-runs a hook that is running when a nested turn iterates the hooks (lwt-core takes
     them out while they run): each hook here acts once, as lwt-core's remove themselves. *)
  let enter_ran = ref false and leave_ran = ref false in
  let leave =
    Lwt_main.Leave_iter_hooks.add_last (fun () ->
        if not !leave_ran then begin
          leave_ran := true;
          ignore
            (Lwt_main.Enter_iter_hooks.add_last (fun () ->
                 if not !enter_ran then begin
                   enter_ran := true;
                   run_exit_hook (fun () ->
                       Lwt_unix.sleep 0.001 >|= fun () -> push "second exit hook done");
                   push "the enter hook's turn returned"
                 end));
          run_exit_hook (fun () ->
              Lwt.pause () >>= Lwt.pause >|= fun () -> push "first exit hook done");
          push "the leave hook's turn returned"
        end)
  in
  (* Lwt wakes paused promises before it polls too: the second pause is woken after the poll,
     as lwt-core wakes its pauses, so that the leave hook runs in the same iteration. *)
  Lwt_main.run (Lwt.pause () >>= Lwt.pause);
  Lwt_main.Leave_iter_hooks.remove leave;
  let expected =
    [ "first exit hook done"; "second exit hook done"; "the enter hook's turn returned";
      "next timer"; "the leave hook's turn returned" ]
  in
  let ok = List.rev !events = expected && Lwt.is_sleeping next_timer = false && ms () >= 100. in
  print_endline (if ok then "same as lwt-core" else "differs from lwt-core");
  exit (if ok then 0 else 1)
