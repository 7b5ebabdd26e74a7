(* A defect of Lwt 5.6.1's Lwt_stream, behind stream.rs's
   closing_again_from_a_callback_the_close_runs_is_harmless (found by ocaml_diff_sync, seed 11,
   with 60 operations). Not part of any test run. Build and run (OCaml and lwt installed):

     ocamlfind ocamlopt -package lwt -linkpkg stream_reclose.ml -o stream_reclose && ./stream_reclose

   `push None` wakes the waiting readers before it resolves the stream's `close` promise. A
   reader's callback that closes the stream again finds `close` still sleeping, so it closes it
   (and enqueues a second end), and the outer `push None` then fails on the resolved promise.
   Output:

     outer: Invalid_argument("Lwt.wakeup")
     done *)

let () =
  let s, push = Lwt_stream.create () in
  let _ =
    Lwt.map
      (fun x ->
        assert (x = None);
        try push None with Lwt_stream.Closed -> print_endline "inner Closed")
      (Lwt_stream.get s)
  in
  (try push None with e -> print_endline ("outer: " ^ Printexc.to_string e));
  print_endline "done"
