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
    // A path to the variant is left to the compiler too: it knows whether the enum has others.
    let _q: Promise<u32> = lwt! {
        let Shape::Square(side) = ret(Circle(2));
        ret(side)
    };
}
