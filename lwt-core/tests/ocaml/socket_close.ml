(* What Lwt 5.6.1 does when one channel of a connection is closed: the evidence behind the
   socket channels of lwt-core's io module (src/io/net.rs, socket_channels). Not part of any test
   run. Build and run (OCaml and lwt.unix installed):

     ocamlfind ocamlopt -thread -package lwt.unix -linkpkg socket_close.ml -o socket_close
     ./socket_close; ./socket_close inet

   The client side is a real Lwt_io.open_connection (or with_connection, or an
   establish_server_with_client_address handler); the peer is a raw Lwt_unix socket. SIGPIPE is
   ignored, as in Rust programs. Output on Linux, the same with Unix-domain and TCP sockets (S6
   and S7 always use a Unix-domain one):

     S1 close ic: the peer's pending read sees the end of input; ic's sibling oc is not closed
        (is_closed false), but a write+flush on it fails with EBADF; closing it is fine.
     S2 the peer's writer waiting for room gets EPIPE (Broken pipe).
     S3 our oc's flush in progress is rejected with EBADF; the peer read what had been sent.
     S4 "hello" buffered in oc, then close ic: the peer reads nothing then EOF; close oc later
        succeeds with the 5 bytes still buffered: lost silently.
     S5 close oc: the peer reads "bye" then EOF, but its reply is refused (Unix: EPIPE; TCP: the
        write succeeds) and read_line ic fails with EBADF: the reply is lost.
     S6 with_connection, f writes "bye" unflushed: the peer gets it (with_close_connection
        closes ic <&> oc, and OCaml evaluates oc's close first: right to left).
     S7 establish_server handler writes "bye" unflushed: the client reads 0 bytes then EOF (the
        server closes the input channel first, which closes the socket).
     S8 a pending read_line on ic is rejected with Channel_closed when ic is closed. *)

open Lwt.Infix

let show_exn = function
  | Unix.Unix_error (e, f, _) -> Printf.sprintf "Unix_error(%s, %s)" (Unix.error_message e) f
  | Lwt_io.Channel_closed s -> Printf.sprintf "Channel_closed(%s)" s
  | End_of_file -> "End_of_file"
  | e -> Printexc.to_string e

let state p = match Lwt.state p with
  | Lwt.Sleep -> "pending"
  | Lwt.Return _ -> "fulfilled"
  | Lwt.Fail e -> "rejected " ^ show_exn e

let counter = ref 0
let inet = ref false

(* A real Lwt_io.open_connection client, and the server's raw accepted fd. *)
let conn () =
  incr counter;
  let addr, dom =
    if !inet then Unix.ADDR_INET (Unix.inet_addr_loopback, 0), Unix.PF_INET
    else begin
      let path = Printf.sprintf "%s/lwt-sock-s%d-%d" (Filename.get_temp_dir_name ()) (Unix.getpid ()) !counter in
      (try Unix.unlink path with _ -> ());
      Unix.ADDR_UNIX path, Unix.PF_UNIX
    end in
  let l = Lwt_unix.socket dom Unix.SOCK_STREAM 0 in
  Lwt_unix.bind l addr >>= fun () ->
  Lwt_unix.listen l 5;
  let addr = Lwt_unix.getsockname l in
  let acc = Lwt_unix.accept l in
  Lwt_io.open_connection addr >>= fun (ic, oc) ->
  acc >>= fun (s, _) ->
  Lwt_unix.close l >>= fun () ->
  (match addr with Unix.ADDR_UNIX p -> (try Unix.unlink p with _ -> ()) | _ -> ());
  Lwt.return (ic, oc, s)

let read_all s =
  let buf = Bytes.create 65536 in
  let total = ref 0 in
  let rec go () =
    Lwt.catch (fun () -> Lwt_unix.read s buf 0 65536 >|= fun n -> `N n)
      (fun e -> Lwt.return (`E e)) >>= function
    | `N 0 -> Lwt.return (Printf.sprintf "%d bytes then EOF" !total)
    | `N n -> total := !total + n; go ()
    | `E e -> Lwt.return (Printf.sprintf "%d bytes then %s" !total (show_exn e)) in
  go ()

(* Writes until it would block, then one more pending write. *)
let fill_and_wait s =
  let buf = Bytes.make 65536 'x' in
  let rec go total =
    let w = Lwt_unix.write s buf 0 65536 in
    match Lwt.state w with
    | Lwt.Return n -> go (total + n)
    | _ -> Lwt.return (total, w) in
  go 0

let tick () = Lwt_unix.sleep 0.05

let s1 () =
  print_endline "S1: client closes its INPUT channel; the peer has a pending read";
  conn () >>= fun (ic, oc, s) ->
  let r = read_all s in
  Lwt_io.close ic >>= fun () ->
  tick () >>= fun () ->
  Printf.printf "  peer read: %s\n" (state r);
  (match Lwt.state r with Lwt.Return m -> Printf.printf "  peer saw: %s\n" m | _ -> ());
  Printf.printf "  Lwt_io.is_closed oc = %b\n" (Lwt_io.is_closed oc);
  Lwt.catch (fun () -> Lwt_io.write oc "after" >>= fun () -> Lwt_io.flush oc >|= fun () -> "ok")
    (fun e -> Lwt.return (show_exn e)) >>= fun w ->
  Printf.printf "  write+flush on oc afterwards: %s\n" w;
  Lwt.catch (fun () -> Lwt_io.close oc >|= fun () -> "ok") (fun e -> Lwt.return (show_exn e)) >>= fun c ->
  Printf.printf "  close oc afterwards: %s\n" c;
  Lwt.return_unit

let s2 () =
  print_endline "S2: the peer has a writer waiting for room; the client closes its INPUT channel";
  conn () >>= fun (ic, _oc, s) ->
  fill_and_wait s >>= fun (n, w) ->
  Printf.printf "  peer wrote %d bytes, next write: %s\n" n (state w);
  Lwt_io.close ic >>= fun () ->
  tick () >>= fun () ->
  Printf.printf "  peer's waiting write after the close: %s\n" (state w);
  Lwt.return_unit

let s3 () =
  print_endline "S3: the client's output channel is flushing (peer not reading); the client closes its INPUT channel";
  conn () >>= fun (ic, oc, s) ->
  let big = String.make (4 * 1024 * 1024) 'y' in
  let f = Lwt_io.write oc big >>= fun () -> Lwt_io.flush oc in
  tick () >>= fun () ->
  Printf.printf "  flush before the close: %s\n" (state f);
  Lwt_io.close ic >>= fun () ->
  tick () >>= fun () ->
  Printf.printf "  flush after the close: %s\n" (state f);
  read_all s >>= fun m ->
  Printf.printf "  peer then read: %s\n" m;
  Lwt.return_unit

let s4 () =
  print_endline "S4: the client wrote \"hello\" (buffered, not flushed) and closes its INPUT channel at once";
  conn () >>= fun (ic, oc, s) ->
  Lwt_io.write oc "hello" >>= fun () ->
  Printf.printf "  buffered in oc: %d\n" (Lwt_io.buffered oc);
  Lwt_io.close ic >>= fun () ->
  tick () >>= fun () ->
  read_all s >>= fun m ->
  Printf.printf "  peer read: %s\n" m;
  Lwt.catch (fun () -> Lwt_io.close oc >|= fun () -> "ok") (fun e -> Lwt.return (show_exn e)) >>= fun c ->
  Printf.printf "  close oc afterwards: %s (buffered %d)\n" c (Lwt_io.buffered oc);
  Lwt.return_unit

let s5 () =
  print_endline "S5: client closes its OUTPUT channel; peer pending read, then peer writes back";
  conn () >>= fun (ic, oc, s) ->
  let r = read_all s in
  Lwt_io.write oc "bye" >>= fun () ->
  Lwt_io.close oc >>= fun () ->
  tick () >>= fun () ->
  (match Lwt.state r with Lwt.Return m -> Printf.printf "  peer saw: %s\n" m | _ -> Printf.printf "  peer read: %s\n" (state r));
  Lwt.catch (fun () -> Lwt_unix.write_string s "back" 0 4 >|= string_of_int) (fun e -> Lwt.return (show_exn e)) >>= fun w ->
  Printf.printf "  peer write back: %s\n" w;
  Lwt.catch (fun () -> Lwt_io.read_line ic) (fun e -> Lwt.return (show_exn e)) >>= fun l ->
  Printf.printf "  client's read_line on ic: %s\n" l;
  Lwt.return_unit

let s6 () =
  print_endline "S6: with_connection, f writes \"bye\" without flushing and returns";
  incr counter;
  let path = Printf.sprintf "%s/lwt-sock-w%d-%d" (Filename.get_temp_dir_name ()) (Unix.getpid ()) !counter in
  (try Unix.unlink path with _ -> ());
  let l = Lwt_unix.socket Unix.PF_UNIX Unix.SOCK_STREAM 0 in
  Lwt_unix.bind l (Unix.ADDR_UNIX path) >>= fun () ->
  Lwt_unix.listen l 5;
  let acc = Lwt_unix.accept l in
  Lwt_io.with_connection (Unix.ADDR_UNIX path) (fun (_ic, oc) -> Lwt_io.write oc "bye") >>= fun () ->
  acc >>= fun (s, _) ->
  read_all s >>= fun m ->
  Printf.printf "  peer read: %s\n" m;
  Lwt_unix.close l >>= fun () ->
  Unix.unlink path;
  Lwt.return_unit

let s7 () =
  print_endline "S7: establish_server handler writes \"bye\" without flushing and returns";
  incr counter;
  let path = Printf.sprintf "%s/lwt-sock-e%d-%d" (Filename.get_temp_dir_name ()) (Unix.getpid ()) !counter in
  (try Unix.unlink path with _ -> ());
  Lwt_io.establish_server_with_client_address (Unix.ADDR_UNIX path)
    (fun _ (_ic, oc) -> Lwt_io.write oc "bye") >>= fun server ->
  let s = Lwt_unix.socket Unix.PF_UNIX Unix.SOCK_STREAM 0 in
  Lwt_unix.connect s (Unix.ADDR_UNIX path) >>= fun () ->
  read_all s >>= fun m ->
  Printf.printf "  client read: %s\n" m;
  Lwt_io.shutdown_server server

let s8 () =
  print_endline "S8: client closes its INPUT channel while a read_line on it is pending";
  conn () >>= fun (ic, _oc, _s) ->
  let r = Lwt_io.read_line ic in
  Lwt_io.close ic >>= fun () ->
  tick () >>= fun () ->
  Printf.printf "  pending read_line: %s\n" (state r);
  Lwt.return_unit

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  if Array.length Sys.argv > 1 && Sys.argv.(1) = "inet" then inet := true;
  Printf.printf "== %s sockets ==\n" (if !inet then "TCP" else "Unix-domain");
  Lwt_main.run (s1 () >>= s2 >>= s3 >>= s4 >>= s5 >>= s6 >>= s7 >>= s8)
