//! Keys (`key::with_value`) in the user functions that stream consumers, derived streams and
//! `get_while` call when an element arrives later: they see the storage of the call that started
//! the consumer or the read, as a bind's callback does, not the storage of whoever pushed the
//! element. Lwt 5.6.1, same programs: iter, fold, find, get_while, iter_s see `Some 1, Some 1`;
//! the functions of map and filter `Some 1`. Found in review (session 27).

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::{key, ret, stream, Promise, State};

type Seen = Rc<RefCell<Vec<Option<u32>>>>;

/// Starts `f` under k=1, then pushes one element under k=2 and one under k=3.
fn seen_under(
    f: impl FnOnce(Seen, key::Key<u32>, stream::Stream<i32>) -> Promise<()>,
) -> Vec<Option<u32>> {
    let k = key::new_key::<u32>();
    let (s, push) = stream::create::<i32>();
    let seen: Seen = Rc::default();
    let _p = key::with_value(&k, Some(1), || f(seen.clone(), k, s));
    key::with_value(&k, Some(2), || push.push(20).unwrap());
    // `Err(Closed)` where `f`'s reader is gone with its one read (a `filter` read once).
    let _ = key::with_value(&k, Some(3), || push.push(30));
    let v = seen.borrow().clone();
    v
}

#[test]
fn stream_iter_sees_the_keys_of_its_call() {
    let v = seen_under(|seen, k, s| s.iter(move |_| seen.borrow_mut().push(key::get(&k))));
    assert_eq!(v, vec![Some(1), Some(1)]);
}

#[test]
fn stream_iter_does_not_see_an_empty_pusher_storage() {
    let k = key::new_key::<u32>();
    let (s, push) = stream::create::<i32>();
    let seen: Seen = Rc::default();
    let sn = seen.clone();
    let _p = key::with_value(&k, Some(1), || {
        s.iter(move |_| sn.borrow_mut().push(key::get(&k)))
    });
    push.push(10).unwrap();
    key::with_value(&k, Some(2), || push.push(20).unwrap());
    assert_eq!(*seen.borrow(), vec![Some(1), Some(1)]);
}

#[test]
fn stream_fold_sees_the_keys_of_its_call() {
    let k = key::new_key::<u32>();
    let (s, push) = stream::create::<i32>();
    let p = key::with_value(&k, Some(1), || {
        s.fold(Vec::new(), move |mut a, _| {
            a.push(key::get(&k));
            a
        })
    });
    push.push(10).unwrap();
    key::with_value(&k, Some(2), || push.push(20).unwrap());
    push.close();

    assert_eq!(p.state(), State::Fulfilled(vec![Some(1), Some(1)]));
}

#[test]
fn stream_find_sees_the_keys_of_its_call() {
    let v = seen_under(|seen, k, s| {
        s.find(move |_| {
            seen.borrow_mut().push(key::get(&k));
            false
        })
        .map(|_| ())
    });
    assert_eq!(v, vec![Some(1), Some(1)]);
}

#[test]
fn stream_iter_s_sees_the_keys_of_its_call() {
    let v = seen_under(|seen, k, s| {
        s.iter_s(move |_| {
            seen.borrow_mut().push(key::get(&k));
            ret(())
        })
    });
    assert_eq!(v, vec![Some(1), Some(1)]);
}

#[test]
fn get_while_predicate_sees_the_keys_of_its_call() {
    let v = seen_under(|seen, k, s| {
        s.get_while(move |_| {
            seen.borrow_mut().push(key::get(&k));
            true
        })
        .map(|_| ())
    });
    assert_eq!(v, vec![Some(1), Some(1)]);
}

#[test]
fn map_function_sees_the_keys_of_the_read() {
    let k = key::new_key::<u32>();
    let (s, push) = stream::create::<i32>();
    let m = s.map(move |_| key::get(&k));
    let g = key::with_value(&k, Some(1), || m.get());
    key::with_value(&k, Some(2), || push.push(20).unwrap());

    assert_eq!(g.state(), State::Fulfilled(Some(Some(1))));
}

#[test]
fn filter_function_sees_the_keys_of_the_read() {
    let v = seen_under(|seen, k, s| {
        let f = s.filter(move |_| {
            seen.borrow_mut().push(key::get(&k));
            true
        });
        f.get().map(|_| ())
    });
    assert_eq!(v, vec![Some(1)]);
}
