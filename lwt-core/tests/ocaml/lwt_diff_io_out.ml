(* The OCaml side of lwt-core's differential test of output channels (tests/ocaml_diff_io_out.rs):
   each line of the standard input is a case, "<buffer size> <op> <op>...". The interpreter makes
   an output channel (Lwt_io.of_fd ~buffer of that size) over the writing end of a pipe, or over
   a fresh regular file when the size is written "f<size>", and runs the operations one after
   the other, each as soon as the one before it resolved. After each, it prints

     <tag> <result> <position> <buffered> <visible length> <visible hash>

   where the visible bytes are those that have reached the pipe (all read from it so far) or the
   file (read from its path); the hash is fold (h * 257 + byte + 1) mod (2^31 - 1). Operations,
   their tags and results:

     w<hex>  write                 "w ok"
     h<hex>  write_char (one byte) "h ok"
     l<hex>  write_line            "l ok"          (w- and l- write the empty string)
     b<n>    BE.write_int16 n      "b ok"
     i<n>    LE.write_int32 n      "i ok"
     q<n>    BE.write_int64 n      "q ok"
     f       flush                 "f ok"
     y       run the loop until the automatic flush is done (Lwt.pause until nothing is
             buffered, or the channel is closed)   "y ok"
     s<n>    set_position n        "s ok"
     n       length                "n <n>"
     x       close                 "x ok"
     a       abort                 "a ok"
     c       close the pipe's reading end (after reading what it holds), so that later writes
             fail with EPIPE; nothing on a file   "c ok"

   Any operation may instead give "closed" (Channel_closed) or "error" (Unix_error); "y" gives
   "stuck" when, on a pipe whose reader is gone, the buffer is still not written out after 1000
   pauses (a failed automatic flush leaves it there; a file's writes on Lwt's thread pool may
   take more turns than that, so they are waited for without a limit). SIGPIPE is ignored, as in Rust programs. After the
   operations the channel is closed (again: that does nothing) and "end <every visible byte in
   hex>" is printed: the pipe's whole stream, or the file's final contents.

   Build: ocamlfind ocamlopt -thread -package lwt.unix -linkpkg lwt_diff_io_out.ml -o lwt_diff_io_out *)

open Lwt.Infix

let hex s = String.concat "" (List.init (String.length s) (fun i -> Printf.sprintf "%02x" (Char.code s.[i])))

let unhex h =
  if h = "-" then ""
  else String.init (String.length h / 2) (fun i -> Char.chr (int_of_string ("0x" ^ String.sub h (2 * i) 2)))

let hash s =
  let h = ref 0 in
  String.iter (fun c -> h := (!h * 257 + Char.code c + 1) mod 2147483647) s;
  !h

let arg o = String.sub o 1 (String.length o - 1)

let result f =
  Lwt.catch f (function
    | Lwt_io.Channel_closed _ -> Lwt.return "closed"
    | Unix.Unix_error _ -> Lwt.return "error"
    | e -> Lwt.fail e)

let ok p = p >|= fun () -> "ok"

(* Pauses until the automatic flush has written the buffer out (a file's write is a job on
   Lwt_unix's thread pool: it takes some turns of the loop). *)
let rec idle oc deaf turns =
  if Lwt_io.buffered oc = 0 || Lwt_io.is_closed oc then Lwt.return "ok"
  else if turns >= 1000 && deaf () then Lwt.return "stuck"
  else Lwt.pause () >>= fun () -> idle oc deaf (turns + 1)

let op oc (deafen, deaf) o =
  result (fun () ->
      match o.[0] with
      | 'w' -> ok (Lwt_io.write oc (unhex (arg o)))
      | 'h' -> ok (Lwt_io.write_char oc (unhex (arg o)).[0])
      | 'l' -> ok (Lwt_io.write_line oc (unhex (arg o)))
      | 'b' -> ok (Lwt_io.BE.write_int16 oc (int_of_string (arg o)))
      | 'i' -> ok (Lwt_io.LE.write_int32 oc (Int32.of_string (arg o)))
      | 'q' -> ok (Lwt_io.BE.write_int64 oc (Int64.of_string (arg o)))
      | 'f' -> ok (Lwt_io.flush oc)
      | 'y' -> idle oc deaf 0
      | 'c' -> deafen (); Lwt.return "ok"
      | 's' -> ok (Lwt_io.set_position oc (Int64.of_string (arg o)))
      | 'n' -> Lwt_io.length oc >|= Int64.to_string
      | 'x' -> ok (Lwt_io.close oc)
      | 'a' -> ok (Lwt_io.abort oc)
      | _ -> failwith ("bad op " ^ o))

(* Everything read from the pipe's reading end [r] so far, in [seen]; [r] is non-blocking. *)
let drain r seen =
  let b = Bytes.create 65536 in
  let rec go () =
    match !r with
    | None -> ()
    | Some r ->
    match Unix.read r b 0 65536 with
    | 0 -> ()
    | n -> Buffer.add_subbytes seen b 0 n; go ()
    | exception Unix.Unix_error ((Unix.EAGAIN | Unix.EWOULDBLOCK), _, _) -> ()
  in
  go ();
  Buffer.contents seen

let read_file path =
  let ic = open_in_bin path in
  let s = really_input_string ic (in_channel_length ic) in
  close_in ic;
  s

let case line =
  match String.split_on_char ' ' line with
  | size :: ops ->
      let file = size.[0] = 'f' in
      let size = int_of_string (if file then arg size else size) in
      let buffer = Lwt_bytes.create size in
      (if file then begin
         let path = Filename.temp_file "lwt_diff_io_out" "" in
         Lwt_io.open_file ~buffer ~mode:Lwt_io.output path >|= fun oc ->
         (oc, (fun () -> read_file path), (ignore, (fun () -> false)), fun () -> Sys.remove path)
       end else begin
         let r, w = Unix.pipe ~cloexec:true () in
         Unix.set_nonblock r;
         let r = ref (Some r) in
         let seen = Buffer.create 256 in
         let deafen () =
           ignore (drain r seen);
           Option.iter Unix.close !r;
           r := None
         in
         Lwt.return
           ( Lwt_io.of_fd ~buffer ~mode:Lwt_io.output (Lwt_unix.of_unix_file_descr w),
             (fun () -> drain r seen),
             (deafen, fun () -> !r = None),
             deafen )
       end) >>= fun (oc, visible, deafen, cleanup) ->
      Lwt_list.iter_s
        (fun o ->
          op oc deafen o >|= fun res ->
          let v = visible () in
          Printf.printf "%c %s %Ld %d %d %d\n" o.[0] res (Lwt_io.position oc) (Lwt_io.buffered oc)
            (String.length v) (hash v))
        ops
      >>= fun () ->
      Lwt.catch (fun () -> Lwt_io.close oc) (fun _ -> Lwt.return_unit) >|= fun () ->
      print_endline ("end " ^ hex (visible ()));
      cleanup ()
  | _ -> failwith ("bad case " ^ line)

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  Lwt_main.run
    (let rec loop () =
       Lwt_io.read_line_opt Lwt_io.stdin >>= function
       | None -> Lwt.return_unit
       | Some line -> case line >>= loop
     in
     loop ())
