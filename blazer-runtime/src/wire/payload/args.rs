//! A task's arguments as pieces of one payload: encoded one by one, each in its own form,
//! and decoded the same way (see [`crate::task::ArgSink`] and [`crate::task::ArgSource`]).
//!
//! The pieces only say where to cut the bytes, which are always the postcard encoding of the
//! whole argument tuple. So a piece must decode to exactly its bytes and parts: one that does
//! not (a boundary that does not fit the types) sends the decoding back to reading the bytes
//! in sequence from that piece on, as decoding the whole tuple does. postcard is
//! self-delimiting, so an argument that uses its whole piece is the one the whole tuple holds
//! there, and either way a task gets the tuple that was sent, or an error.

use super::*;

/// A task's arguments being encoded one by one: each is a piece of the payload.
#[derive(Debug, Default)]
pub(crate) struct ArgPieces {
    pieces: Vec<Payload>,
}

impl ArgPieces {
    /// The encoded arguments, one piece each (those of a call, or a flow's input).
    pub(crate) fn into_payload(self) -> Payload {
        Payload::from_pieces(self.pieces)
    }

    /// The encoded leading arguments of a partial application, then an empty piece: the
    /// slot its stage input fills ([`Payload::then`]), even when that input is a `()`.
    pub(crate) fn into_open_payload(mut self) -> Payload {
        self.pieces.push(Payload::default());
        Payload::from_pieces(self.pieces)
    }
}

impl crate::task::ArgSink for ArgPieces {
    fn arg<A: Serialize + 'static>(&mut self, arg: A) -> Result<(), String> {
        let piece = Payload::encode_owned(arg).map_err(|e| e.to_string())?;
        self.pieces.push(piece);
        Ok(())
    }
}

/// The encoded arguments of a task, decoded piece by piece (or whole).
#[derive(Debug)]
pub(crate) struct ArgsIn {
    /// What is left to decode.
    rest: Payload,
    /// How many pieces there were.
    pieces: usize,
    /// How many arguments have been taken since.
    taken: usize,
    /// Once a piece did not decode exactly: `rest` as one run of bytes (normalized, no
    /// marks), and how far into it the arguments taken since have read.
    read: Option<usize>,
}

impl ArgsIn {
    /// The arguments in `payload`. Marks that do not cut it into pieces in order (no payload
    /// blazer makes has them) are dropped: the arguments are then read as one value.
    pub(crate) fn new(mut payload: Payload) -> ArgsIn {
        if !payload.marks_fit() {
            payload.marks.clear();
        }
        ArgsIn {
            pieces: payload.pieces(),
            rest: payload,
            taken: 0,
            read: None,
        }
    }

    /// Reads the next argument from the run of bytes left, from offset `from`; the last one
    /// must end where the bytes do.
    fn read_on<A: DeserializeOwned + 'static>(&mut self, from: usize) -> Result<A, String> {
        let (value, end, len) = self
            .rest
            .decode_from::<A>(from)
            .map_err(|e| e.to_string())?;
        if self.taken >= self.pieces && end != len {
            return Err(format!("{} bytes left after the arguments", len - end));
        }
        self.read = Some(end);
        Ok(value)
    }
}

impl crate::task::ArgSource for ArgsIn {
    fn pieces(&self) -> usize {
        self.pieces
    }

    fn arg<A: DeserializeOwned + 'static>(&mut self) -> Result<A, String> {
        self.taken += 1;
        if let Some(from) = self.read {
            return self.read_on(from);
        }
        let piece = self.rest.split_first();
        match piece.decode_exact::<A>() {
            Ok(value) => Ok(value),
            Err((piece, _)) => {
                // A boundary that does not fit: from this piece on, the bytes in sequence.
                let joined = Payload::concat([piece, std::mem::take(&mut self.rest)]);
                let normal = match joined.normalized() {
                    std::borrow::Cow::Owned(normal) => Some(normal),
                    std::borrow::Cow::Borrowed(_) => None,
                };
                self.rest = normal.unwrap_or(joined);
                self.read_on(0)
            }
        }
    }

    fn whole<T: DeserializeOwned + 'static>(&mut self) -> Result<T, String> {
        self.taken = self.pieces;
        if let Some(from) = self.read {
            return self.read_on(from);
        }
        let mut rest = std::mem::take(&mut self.rest);
        rest.marks.clear();
        rest.decode_exact().map_err(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{ArgSink, ArgSource};
    use crate::wire::plan::join_outputs;

    fn enc<T: Serialize + 'static>(v: T) -> Payload {
        Payload::encode_owned(v).unwrap()
    }

    /// The payload a fork of `()` and of a fork of `5` and `[2, 7, 7]` outputs.
    fn unit_beside_nested_fork() -> Payload {
        let nested = join_outputs(false, vec![enc(5u32), enc(vec![2u32, 7, 7])]);
        join_outputs(false, vec![enc(()), nested])
    }

    #[test]
    fn an_empty_piece_keeps_its_boundary() {
        let mut args = ArgsIn::new(unit_beside_nested_fork());
        assert_eq!(args.pieces(), 2);
        let () = args.arg().unwrap();
        assert_eq!(args.arg::<(u32, Vec<u32>)>().unwrap(), (5, vec![2, 7, 7]));
    }

    #[test]
    fn a_call_holds_exactly_its_arguments() {
        let mut sink = ArgPieces::default();
        sink.arg(3u32).unwrap();
        sink.arg(vec![1.5f64; 1 << 14]).unwrap();
        // A fully bound call runs on the empty stage input `()`.
        let joined = sink.into_payload().then(Payload::default());
        assert_eq!(ArgsIn::new(joined).pieces(), 2);
    }

    #[test]
    fn a_partial_keeps_an_empty_last_argument() {
        let mut sink = ArgPieces::default();
        sink.arg(3u32).unwrap();
        // `partial::<f>(3)` of `f(a: u32, b: ())`, run on `()`.
        let joined = sink.into_open_payload().then(enc(()));
        assert_eq!(ArgsIn::new(joined).pieces(), 2);
    }

    #[test]
    fn a_piece_is_consumed_whole_or_the_tuple_is_decoded_whole() {
        // `(5u8, vec![9u8])` is `[5, 1, 9]`; a boundary after `[5, 1]` is wrong.
        let mut p = enc((5u8, vec![9u8]));
        p.marks.push((2, 0));
        let mut args = ArgsIn::new(p);
        assert_eq!(args.pieces(), 2);
        let a: u8 = args.arg().unwrap();
        let b: Vec<u8> = args.arg().unwrap();
        assert_eq!((a, b), (5, vec![9]));
    }

    // Property tests: payloads cut into pieces the ways blazer cuts them, or anywhere, must
    // give a task the tuple that was encoded; and no bytes read off the wire make the
    // decoding panic. Bounded case counts: a few seconds in all.

    use crate::task::Task;
    use blazer_macros::task as blazer_task;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_bytes::ByteBuf;
    use std::fmt::Debug;

    /// An [`ArgSource`] that tells whether the arguments were decoded as one value.
    struct Watch {
        args: ArgsIn,
        whole: bool,
    }

    impl ArgSource for Watch {
        fn pieces(&self) -> usize {
            self.args.pieces()
        }
        fn arg<A: DeserializeOwned + 'static>(&mut self) -> Result<A, String> {
            self.args.arg()
        }
        fn whole<T: DeserializeOwned + 'static>(&mut self) -> Result<T, String> {
            self.whole = true;
            self.args.whole()
        }
    }

    /// `T`'s arguments from `payload` as the worker takes them, and whether the path was the
    /// one of the whole tuple.
    fn join<T: Task>(payload: Payload) -> (Result<T::Input, String>, bool) {
        let mut watch = Watch {
            args: ArgsIn::new(payload),
            whole: false,
        };
        (T::join_input(&mut watch), watch.whole)
    }

    // Tasks of 1 to 8 arguments whose arguments the tests take apart (they never run).
    #[blazer_task(crate = crate)]
    fn one(a: Vec<i64>) -> Vec<i64> {
        a
    }

    #[blazer_task(crate = crate)]
    fn two(a: (), b: (u32, Vec<u8>)) -> u32 {
        let () = a;
        b.0
    }

    #[blazer_task(crate = crate)]
    fn three(a: u8, b: Vec<f64>, c: ()) -> u8 {
        let () = c;
        a + b.len() as u8
    }

    #[blazer_task(crate = crate)]
    fn five(a: Vec<u8>, b: (), c: String, d: Vec<i64>, e: (Vec<f64>, ())) -> usize {
        let ((), ()) = (b, e.1);
        a.len() + c.len() + d.len() + e.0.len()
    }

    #[blazer_task(crate = crate)]
    #[allow(clippy::too_many_arguments)]
    fn eight(
        a: (),
        b: Vec<f64>,
        c: u8,
        d: (),
        e: Vec<u8>,
        f: i64,
        g: Vec<i64>,
        h: (u32, Vec<u8>),
    ) -> usize {
        let ((), ()) = (a, d);
        b.len() + usize::from(c) + e.len() + f as usize + g.len() + h.1.len()
    }

    /// Bytes past [`PART_MIN`] make a vector a part of its own.
    fn long(min_bytes: usize, elem: usize) -> std::ops::Range<usize> {
        let n = min_bytes.div_ceil(elem);
        n..n + 40
    }

    /// Short vectors mostly, a long one (a part) now and then.
    fn f64s() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            4 => vec(any::<i32>().prop_map(f64::from), 0..6),
            1 => (long(PART_MIN, 8), any::<i16>())
                .prop_map(|(n, s)| (0..n).map(|i| f64::from(s) + i as f64).collect()),
        ]
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => vec(any::<u8>(), 0..6),
            1 => (long(PART_MIN, 1), any::<u8>())
                .prop_map(|(n, s)| (0..n).map(|i| s.wrapping_add(i as u8)).collect()),
        ]
    }

    fn i64s() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            4 => vec(any::<i64>(), 0..6),
            1 => (long(PART_MIN, 8), any::<i64>())
                .prop_map(|(n, s)| (0..n as i64).map(|i| s.wrapping_mul(i)).collect()),
        ]
    }

    /// An argument made into a payload one of the ways a stage input reaches a task.
    trait Made: Serialize + DeserializeOwned + Clone + PartialEq + Debug + 'static {
        /// As `how` picks: lent, copied by serde, through a message, or (a tuple) the
        /// output of a fork of its fields.
        fn made(&self, how: u8) -> Payload {
            match how % 3 {
                0 => Payload::encode_owned(self.clone()).unwrap(),
                1 => Payload::encode(self).unwrap(),
                _ => wire(Payload::encode_owned(self.clone()).unwrap()),
            }
        }
    }

    impl Made for u8 {}
    impl Made for i64 {}
    impl Made for String {}
    impl Made for Vec<f64> {}
    impl Made for Vec<u8> {}
    impl Made for Vec<i64> {}

    impl Made for () {
        fn made(&self, how: u8) -> Payload {
            match how % 3 {
                0 => Payload::default(),
                // A fork's output of one `()` branch, a piece of its own.
                1 => Payload::from_pieces([Payload::default()]),
                _ => wire(Payload::default()),
            }
        }
    }

    impl<A: Made, B: Made> Made for (A, B) {
        fn made(&self, how: u8) -> Payload {
            match how % 4 {
                3 => Payload::from_pieces([self.0.made(how / 4), self.1.made(how / 16)]),
                _ => Payload::encode(self).unwrap(),
            }
        }
    }

    impl Made for u32 {}

    /// `payload` sent in a message and received (parts inline, marks as they travel).
    fn wire(payload: Payload) -> Payload {
        let bytes = crate::wire::codec::encode(&payload).unwrap();
        crate::wire::codec::decode(&bytes, 0).unwrap()
    }

    /// How the pieces of the arguments are put together, as blazer does it.
    #[derive(Debug, Clone, Copy)]
    enum Joined {
        /// A tuple fork's outputs, fed to the task.
        Fork,
        /// A fully bound call on its `()` input.
        Call,
        /// A partial application's bound arguments and its slot, filled by the stage input.
        Partial,
        /// A fold's accumulator and next item, side by side (tasks of two arguments).
        Fold,
        /// A message in between.
        Sent,
        /// One value: the tuple as a whole (a constant fed to the task, say).
        Whole,
    }

    fn joined() -> impl Strategy<Value = Joined> {
        prop_oneof![
            Just(Joined::Fork),
            Just(Joined::Call),
            Just(Joined::Partial),
            Just(Joined::Fold),
            Just(Joined::Sent),
            Just(Joined::Whole),
        ]
    }

    /// Puts the arguments' pieces together as `how` says; `true` when the task must then
    /// take them one by one.
    fn put_together(mut pieces: Vec<Payload>, how: Joined) -> (Payload, bool) {
        let n = pieces.len();
        match how {
            Joined::Fork => (Payload::from_pieces(pieces), true),
            Joined::Call => (Payload::from_pieces(pieces).then(Payload::default()), true),
            Joined::Partial if n >= 2 => {
                let last = pieces.pop().expect("two pieces or more");
                pieces.push(Payload::default());
                (Payload::from_pieces(pieces).then(last), true)
            }
            // Both of one type: an accumulator holds bytes when the item does (for a `()`,
            // neither does, and the item alone is the arguments).
            Joined::Fold if n == 2 && !pieces[0].holds_no_bytes() => {
                let item = pieces.pop().expect("two pieces");
                let acc = pieces.pop().expect("two pieces");
                (acc.then(item), true)
            }
            Joined::Sent => (wire(Payload::from_pieces(pieces)), true),
            _ => (Payload::concat(pieces), n == 1),
        }
    }

    /// The bytes of `payload` cut into `n` pieces at `cuts` (indices into every place a
    /// boundary may go, in order, repeats allowed: empty pieces).
    fn cut_anywhere(mut payload: Payload, cuts: &[prop::sample::Index], n: usize) -> Payload {
        let mut places = Vec::new();
        for h in 0..=payload.head.len() {
            let before = payload.parts.iter().filter(|p| p.at < h).count();
            let at_or_before = payload.parts.iter().filter(|p| p.at <= h).count();
            places.extend((before..=at_or_before).map(|k| (h, k)));
        }
        let mut marks: Vec<_> = cuts[..n - 1].iter().map(|i| *i.get(&places)).collect();
        marks.sort_unstable();
        payload.marks = marks.into_iter().collect();
        payload
    }

    /// Checks one case: `T` takes `value` back from its pieces put together `how`, by the
    /// path it must take; cut anywhere else, it still takes `value` back.
    fn check<T: Task>(
        value: T::Input,
        pieces: Vec<Payload>,
        how: Joined,
        cuts: &[prop::sample::Index],
    ) -> Result<(), TestCaseError>
    where
        T::Input: Clone + PartialEq + Debug,
    {
        let (payload, split) = put_together(pieces, how);
        prop_assert_eq!(payload.to_vec(), postcard::to_allocvec(&value).unwrap());
        let whole: T::Input = Payload::concat([payload.clone()]).decode().unwrap();
        prop_assert_eq!(&whole, &value);
        let (got, took_whole) = join::<T>(payload.clone());
        prop_assert_eq!(got.as_ref(), Ok(&value));
        prop_assert_eq!(
            took_whole,
            !split || T::ARITY == 1,
            "the path taken ({:?})",
            how
        );
        if T::ARITY >= 2 {
            let (got, _) = join::<T>(cut_anywhere(payload, cuts, T::ARITY));
            prop_assert_eq!(got.as_ref(), Ok(&value), "cut anywhere");
        }
        Ok(())
    }

    /// Generates the cases of a task: its arguments' values, how each becomes a payload,
    /// how they are put together, and cuts anywhere.
    macro_rules! split_join_property {
        ($name:ident, $task:ident, $($arg:ident in $strategy:expr),+) => {
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]
                #[test]
                fn $name(
                    $($arg in $strategy,)+
                    hows in vec(any::<u8>(), 8),
                    how in joined(),
                    cuts in vec(any::<prop::sample::Index>(), 8),
                ) {
                    let mut each = hows.iter().copied();
                    let pieces = vec![$($arg.made(each.next().unwrap()),)+];
                    check::<$task>(($($arg),+), pieces, how, &cuts)?;
                }
            }
        };
    }

    split_join_property!(split_join_one_argument, one, a in i64s());
    split_join_property!(
        split_join_two_arguments,
        two,
        a in Just(()),
        b in (any::<u32>(), bytes())
    );
    split_join_property!(
        split_join_three_arguments,
        three,
        a in any::<u8>(),
        b in f64s(),
        c in Just(())
    );
    split_join_property!(
        split_join_five_arguments,
        five,
        a in bytes(),
        b in Just(()),
        c in "[a-z]{0,5}",
        d in i64s(),
        e in (f64s(), Just(()))
    );
    split_join_property!(
        split_join_eight_arguments,
        eight,
        a in Just(()),
        b in f64s(),
        c in any::<u8>(),
        d in Just(()),
        e in bytes(),
        f in any::<i64>(),
        g in i64s(),
        h in (any::<u32>(), bytes())
    );

    /// A payload as a message writes it (`wire_form.rs`), from parts given as they are:
    /// marks and parts need not make sense.
    #[derive(Serialize)]
    enum PartRepr {
        #[allow(dead_code)]
        Detached {
            len: u64,
        },
        Inline(ByteBuf),
    }

    fn forged(
        head: Vec<u8>,
        marks: Vec<(u64, u64)>,
        parts: Vec<(u64, u8, u8, Vec<u8>)>,
    ) -> Vec<u8> {
        use serde::ser::SerializeTuple;
        struct Forged(Vec<u8>, Vec<(u64, u64)>, Vec<(u64, u8, u8, Vec<u8>)>);
        impl Serialize for Forged {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let shape = ((self.2.len() as u64) << 32) | self.1.len() as u64;
                let mut t = s.serialize_tuple(2 + self.1.len() + self.2.len())?;
                t.serialize_element(&shape)?;
                t.serialize_element(&ByteBuf::from(self.0.clone()))?;
                for m in &self.1 {
                    t.serialize_element(m)?;
                }
                for (at, align, kind, bytes) in &self.2 {
                    let repr = PartRepr::Inline(ByteBuf::from(bytes.clone()));
                    t.serialize_element(&(at, align, kind, repr))?;
                }
                t.end()
            }
        }
        postcard::to_allocvec(&Forged(head, marks, parts)).unwrap()
    }

    /// Every task's arguments from `payload`: each an `Ok` or an `Err`, never a panic.
    fn join_every_task(payload: &Payload) {
        let _ = join::<one>(payload.clone());
        let _ = join::<two>(payload.clone());
        let _ = join::<three>(payload.clone());
        let _ = join::<five>(payload.clone());
        let _ = join::<eight>(payload.clone());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Bounded fuzz: any bytes a worker might receive as a payload.
        #[test]
        fn fuzz_received_bytes_never_panic(bytes in vec(any::<u8>(), 0..96)) {
            if let Ok(payload) = crate::wire::codec::decode::<Payload>(&bytes, 0) {
                join_every_task(&payload);
            }
        }

        /// Bounded fuzz: payloads forged with any head, marks and parts, placed in the head
        /// in order and where they fit (so that most pass the message's checks) or anywhere,
        /// taken apart by every task.
        #[test]
        fn fuzz_forged_marks_and_parts_never_panic(
            head in vec(any::<u8>(), 0..40),
            marks in vec((0usize..=100, 0u64..3), 0..9),
            parts in vec((0usize..=100, 0u8..5, 1usize..4, any::<u8>()), 0..3),
            fit in any::<bool>(),
        ) {
            let place = |percent: usize| (head.len() * percent / 100) as u64;
            let mut parts: Vec<(u64, u8, u8, Vec<u8>)> = parts
                .into_iter()
                .map(|(at, kind, n, fill)| {
                    // Bytes, or integers of 2 or 8 bytes (as their alignment), or nonsense.
                    let (align, kind, size) = [(1, 0, 1), (8, 0, 1), (2, 2, 2), (8, 0x88, 8), (1, 3, 1)]
                        [usize::from(kind)];
                    (place(at), align, kind, vec![fill; n * size])
                })
                .collect();
            let mut marks: Vec<(u64, u64)> =
                marks.into_iter().map(|(h, k)| (place(h), k)).collect();
            if fit {
                parts.sort_unstable_by_key(|p| p.0);
                marks.sort_unstable();
                for m in &mut marks {
                    let before = parts.iter().filter(|p| p.0 < m.0).count() as u64;
                    let upto = parts.iter().filter(|p| p.0 <= m.0).count() as u64;
                    m.1 = (before + m.1).min(upto);
                }
            }
            let bytes = forged(head, marks, parts);
            if let Ok(payload) = crate::wire::codec::decode::<Payload>(&bytes, 0) {
                join_every_task(&payload);
            }
        }

        /// Bounded fuzz past the message's checks: marks in any order or range, on any
        /// head, straight to the decoding side.
        #[test]
        fn fuzz_unchecked_marks_never_panic(
            head in vec(any::<u8>(), 0..40),
            marks in vec((0usize..48, 0usize..3), 0..9),
        ) {
            let mut payload = Payload::from(head);
            payload.marks = marks.into_iter().collect();
            join_every_task(&payload);
        }
    }
}
