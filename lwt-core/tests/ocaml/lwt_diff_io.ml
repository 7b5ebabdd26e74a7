(* The OCaml side of lwt-core's differential test of input channels (tests/ocaml_diff_io.rs):
   each line of the standard input is a case, "<buffer size> <data in hex> <op> <op>...". The
   interpreter writes the data to a pipe, closes its writing end, and runs the operations on
   an input channel over the reading end (Lwt_io.of_fd ~buffer of that size), printing one line
   per operation, then "end". Operations and what they print:

     l   read_line           "l <line in hex>" or "l eof" (End_of_file)
     o   read_line_opt       "o <line in hex>" or "o none"
     c   read_char           "c <byte in hex>" or "c eof"
     d   read_char_opt       "d <byte in hex>" or "d none"
     x<n> read_into_exactly n bytes: "x <bytes in hex>" or "x eof"
     r<n> read ~count:n       "r <bytes in hex>" ("r " at the end of input)
     i<n> read_into n bytes   "i <the bytes it read, in hex>"
     e   read (no count: to the end) "e <bytes in hex>"
     b   BE.read_int16       "b <n>" or "b eof"
     w   LE.read_int32       "w <n>" or "w eof"
     q   BE.read_int64       "q <n>" or "q eof"
     p   position            "p <n>"
     s<n> set_position n     "s" or "s error" (Unix_error: a pipe)
     n   length              "n <n>" or "n error"

   A buffer size written "f<size>" reads a file holding the data (Lwt_io.open_file) instead of
   a pipe.

   Build: ocamlfind ocamlopt -thread -package lwt.unix -linkpkg lwt_diff_io.ml -o lwt_diff_io *)

open Lwt.Infix

let hex s = String.concat "" (List.init (String.length s) (fun i -> Printf.sprintf "%02x" (Char.code s.[i])))

let unhex h = String.init (String.length h / 2) (fun i -> Char.chr (int_of_string ("0x" ^ String.sub h (2 * i) 2)))

let eof tag f = Lwt.catch f (function End_of_file -> Lwt.return (tag ^ " eof") | e -> Lwt.fail e)

let op ic o =
  match o.[0] with
  | 'l' -> eof "l" (fun () -> Lwt_io.read_line ic >|= fun l -> "l " ^ hex l)
  | 'o' -> Lwt_io.read_line_opt ic >|= (function Some l -> "o " ^ hex l | None -> "o none")
  | 'c' -> eof "c" (fun () -> Lwt_io.read_char ic >|= fun c -> "c " ^ hex (String.make 1 c))
  | 'd' -> Lwt_io.read_char_opt ic >|= (function Some c -> "d " ^ hex (String.make 1 c) | None -> "d none")
  | 'x' ->
      let n = int_of_string (String.sub o 1 (String.length o - 1)) in
      let b = Bytes.create n in
      eof "x" (fun () -> Lwt_io.read_into_exactly ic b 0 n >|= fun () -> "x " ^ hex (Bytes.to_string b))
  | 'r' ->
      let n = int_of_string (String.sub o 1 (String.length o - 1)) in
      Lwt_io.read ~count:n ic >|= fun s -> "r " ^ hex s
  | 'i' ->
      let n = int_of_string (String.sub o 1 (String.length o - 1)) in
      let b = Bytes.create n in
      Lwt_io.read_into ic b 0 n >|= fun k -> "i " ^ hex (Bytes.sub_string b 0 k)
  | 'e' -> Lwt_io.read ic >|= fun s -> "e " ^ hex s
  | 'b' -> eof "b" (fun () -> Lwt_io.BE.read_int16 ic >|= fun n -> "b " ^ string_of_int n)
  | 'w' -> eof "w" (fun () -> Lwt_io.LE.read_int32 ic >|= fun n -> "w " ^ Int32.to_string n)
  | 'q' -> eof "q" (fun () -> Lwt_io.BE.read_int64 ic >|= fun n -> "q " ^ Int64.to_string n)
  | 'p' -> Lwt.return ("p " ^ Int64.to_string (Lwt_io.position ic))
  | 's' ->
      let n = Int64.of_string (String.sub o 1 (String.length o - 1)) in
      Lwt.catch
        (fun () -> Lwt_io.set_position ic n >|= fun () -> "s")
        (function Unix.Unix_error _ -> Lwt.return "s error" | e -> Lwt.fail e)
  | 'n' ->
      Lwt.catch
        (fun () -> Lwt_io.length ic >|= fun n -> "n " ^ Int64.to_string n)
        (function Unix.Unix_error _ -> Lwt.return "n error" | e -> Lwt.fail e)
  | _ -> failwith ("bad op " ^ o)

let case line =
  match String.split_on_char ' ' line with
  | size :: data :: ops ->
      let data = unhex (if data = "-" then "" else data) in
      let file = size.[0] = 'f' in
      let size = int_of_string (if file then String.sub size 1 (String.length size - 1) else size) in
      let buffer = Lwt_bytes.create size in
      (if file then begin
         let path = Filename.temp_file "lwt_diff_io" "" in
         Lwt_io.with_file ~mode:Lwt_io.output path (fun oc -> Lwt_io.write oc data) >>= fun () ->
         Lwt_io.open_file ~buffer ~mode:Lwt_io.input path >|= fun ic -> (ic, fun () -> Sys.remove path)
       end else begin
         let r, w = Lwt_unix.pipe () in
         Lwt_unix.write_string w data 0 (String.length data) >>= fun _ ->
         Lwt_unix.close w >|= fun () -> (Lwt_io.of_fd ~buffer ~mode:Lwt_io.input r, ignore)
       end) >>= fun (ic, cleanup) ->
      Lwt_list.iter_s (fun o -> op ic o >|= print_endline) ops >>= fun () ->
      print_endline "end";
      Lwt_io.close ic >|= cleanup
  | _ -> failwith ("bad case " ^ line)

let () =
  Lwt_main.run
    (let rec loop () =
       Lwt_io.read_line_opt Lwt_io.stdin >>= function
       | None -> Lwt.return_unit
       | Some line -> case line >>= loop
     in
     loop ())
