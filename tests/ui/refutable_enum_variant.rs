use lwt::{lwt, ret, Promise};

enum Shape {
    Circle(u32),
    Square(u32),
}
use Shape::*;

fn main() {
    let _p: Promise<u32> = lwt! {
        let Circle(r) = ret(Square(2));
        ret(r)
    };
}
