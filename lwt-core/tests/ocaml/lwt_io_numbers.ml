(* Lwt_io's binary number primitives, for lwt-core's tests/io_numbers.rs: each line of the
   standard input is "<order> <kind> <value>" (order: be, le or ne; kind: int, int16, int32,
   int64, float32 or float64; a float's value is its bit pattern, as an OCaml integer literal).
   The interpreter writes the value with Lwt_io's write function of that order and kind to a
   pipe, reads the bytes back, then reads the value from the same bytes with the matching read
   function, and prints "<bytes in hex> <value read>" (a float as its bit pattern in hex). *)

open Lwt.Infix

let hex b =
  String.concat "" (List.init (Bytes.length b) (fun i -> Printf.sprintf "%02x" (Char.code (Bytes.get b i))))

let width = function
  | "int16" -> 2 | "int" | "int32" | "float32" -> 4 | "int64" | "float64" -> 8
  | k -> failwith ("kind " ^ k)

let one order kind value =
  (* Lwt_io's top level includes the machine-order NumberIO. *)
  let (module N : Lwt_io.NumberIO) =
    match order with
    | "be" -> (module Lwt_io.BE)
    | "le" -> (module Lwt_io.LE)
    | _ -> (module Lwt_io)
  in
  let write oc = function
    | `I16 n -> N.write_int16 oc n
    | `I n -> N.write_int oc n
    | `I32 n -> N.write_int32 oc n
    | `I64 n -> N.write_int64 oc n
    | `F32 f -> N.write_float32 oc f
    | `F64 f -> N.write_float64 oc f
  in
  let read ic = function
    | "int16" -> N.read_int16 ic >|= string_of_int
    | "int" -> N.read_int ic >|= string_of_int
    | "int32" -> N.read_int32 ic >|= Int32.to_string
    | "int64" -> N.read_int64 ic >|= Int64.to_string
    | "float32" -> N.read_float32 ic >|= fun f -> Printf.sprintf "%lx" (Int32.bits_of_float f)
    | _ -> N.read_float64 ic >|= fun f -> Printf.sprintf "%Lx" (Int64.bits_of_float f)
  in
  let v =
    match kind with
    | "int16" -> `I16 (int_of_string value)
    | "int" -> `I (int_of_string value)
    | "int32" -> `I32 (Int32.of_string value)
    | "int64" -> `I64 (Int64.of_string value)
    | "float32" -> `F32 (Int32.float_of_bits (Int32.of_string value))
    | "float64" -> `F64 (Int64.float_of_bits (Int64.of_string value))
    | k -> failwith ("kind " ^ k)
  in
  let ic, oc = Lwt_io.pipe () in
  write oc v >>= fun () ->
  Lwt_io.flush oc >>= fun () ->
  let n = width kind in
  let b = Bytes.create n in
  Lwt_io.read_into_exactly ic b 0 n >>= fun () ->
  let ic2, oc2 = Lwt_io.pipe () in
  Lwt_io.write_from_exactly oc2 b 0 n >>= fun () ->
  Lwt_io.flush oc2 >>= fun () ->
  read ic2 kind >>= fun got ->
  Lwt_list.iter_p Lwt_io.close [ic; ic2] >>= fun () ->
  Lwt_list.iter_p Lwt_io.close [oc; oc2] >|= fun () ->
  Printf.printf "%s %s\n" (hex b) got

let () =
  Lwt_main.run
    (let rec loop () =
       Lwt_io.read_line_opt Lwt_io.stdin >>= function
       | None -> Lwt.return_unit
       | Some line ->
         (match String.split_on_char ' ' line with
          | [order; kind; value] -> one order kind value
          | _ -> failwith ("bad line: " ^ line)) >>= loop
     in
     loop ())
