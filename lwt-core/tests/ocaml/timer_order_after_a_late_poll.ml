(* What Lwt 5.6.1 does with the program of run_loop_bugs.rs's
   a_timer_made_before_a_late_poll_still_fires_before_older_timers_due_after_it (the shape
   timers_fuzz met at seed 1, case 962): a timer's callback makes a timer due at 15 ms, before an
   older one due at 20 ms, then keeps the loop busy until 25 ms, past both deadlines. Lwt fires
   them in deadline order: it prints s0, a, b.

   Build and run (not part of the test suite):
     ocamlfind ocamlopt -thread -package lwt.unix -linkpkg timer_order_after_a_late_poll.ml \
       -o timer_order
     ./timer_order *)

open Lwt.Infix

let t0 = Unix.gettimeofday ()
let ms () = (Unix.gettimeofday () -. t0) *. 1000.
let log = ref []
let push s = Printf.printf "%6.1f ms  %s\n%!" (ms ()) s; log := s :: !log

let () =
  let b = Lwt_unix.sleep 0.020 >|= fun () -> push "b" in
  let a = ref Lwt.return_unit in
  let s0 =
    Lwt_unix.sleep 0.005 >|= fun () ->
    push "s0";
    a := (Lwt_unix.sleep 0.010 >|= fun () -> push "a");
    (* The loop is late: past both deadlines before it looks at its timers again. *)
    Unix.sleepf 0.020
  in
  (* As the Rust test: s0 is due when the loop first looks at its timers. *)
  Unix.sleepf 0.006;
  Lwt_main.run (s0 >>= fun () -> Lwt.join [ !a; b ]);
  print_endline (String.concat ", " (List.rev !log))
