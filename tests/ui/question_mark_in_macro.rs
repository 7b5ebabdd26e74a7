use lwt::{lwt, ret, Promise};

fn main() {
    // Inside the arguments of a standard macro, `?` gets the same message as anywhere else.
    let _p: Promise<u8> = lwt! {
        let text = ret("12");
        do println!("{}", text.parse::<u8>()?);
        do let v = vec![text.parse::<u8>()?; 2];
        ret(v[0])
    };
}
