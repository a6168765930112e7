//! A linearizability checker: Wing & Gong's search with Lowe's memoization ("Testing for
//! linearizability", 2017), as Porcupine implements it, over a sequential [`Model`].
//!
//! The calls of a history are laid out as call and return events in time order. The search
//! linearizes, as early as it can, a call whose event is reached and whose step the model
//! accepts; when it reaches the return of a call not yet linearized, it undoes the last
//! choice. A configuration (the calls linearized, the model's state) already explored is not
//! explored again. A call without a return (an ambiguous write) never forces a choice: it may
//! be linearized at any point after its call, or never.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification: a state, and whether a call with its answer can be the next
/// step from it.
pub trait Model {
    /// The model's state.
    type State: Clone + Eq + Hash;
    /// A call with its answer.
    type Op;
    /// The state before the first call.
    fn init(&self) -> Self::State;
    /// The state after `op`, if `op`'s answer is what the model answers from `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// A call with its answer, and when it began and (if it did) ended.
#[derive(Debug, Clone)]
pub struct Timed<Op> {
    /// When the call began.
    pub invoke: u64,
    /// When it returned; `None`: it may take effect at any time after `invoke`, or never.
    pub ret: Option<u64>,
    /// The call and its answer.
    pub op: Op,
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the calls, consistent with their times, is a run of the model.
    Linearizable,
    /// None is. `longest` is the longest order of calls (indices) the search linearized
    /// before it gave up: the calls after it are where the history goes wrong.
    NotLinearizable {
        /// The longest partial linearization found.
        longest: Vec<usize>,
    },
    /// The search ran out of time.
    Unknown,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Call(usize),
    Return(usize),
}

/// A set of call indices, as bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The events still to linearize, as a doubly linked list over `events` (index `len` is the
/// head sentinel), so a call and its return can be lifted out and put back in O(1).
struct Events {
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each call: the index of its return event, if it has one.
    return_of: Vec<Option<usize>>,
}

impl Events {
    fn new<Op>(ops: &[Timed<Op>]) -> Self {
        let mut timed: Vec<(u64, u8, Event)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            timed.push((op.invoke, 0, Event::Call(i)));
            if let Some(ret) = op.ret {
                // At the same instant, calls come first: such calls count as concurrent.
                timed.push((ret, 1, Event::Return(i)));
            }
        }
        timed.sort_by_key(|(time, order, _)| (*time, *order));
        let events: Vec<Event> = timed.into_iter().map(|(_, _, e)| e).collect();
        let len = events.len();
        let mut return_of = vec![None; ops.len()];
        for (index, event) in events.iter().enumerate() {
            if let Event::Return(i) = event {
                return_of[*i] = Some(index);
            }
        }
        // Node `len` is the sentinel: next[len] is the first event, prev[len] the last.
        let next = (0..=len)
            .map(|i| if i == len { 0 } else { i + 1 })
            .collect();
        let prev = (0..=len)
            .map(|i| if i == 0 { len } else { i - 1 })
            .collect();
        let mut list = Events {
            events,
            next,
            prev,
            return_of,
        };
        if len == 0 {
            list.next[0] = 0;
            list.prev[0] = 0;
        }
        list
    }

    fn sentinel(&self) -> usize {
        self.events.len()
    }

    fn first(&self) -> usize {
        self.next[self.sentinel()]
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        self.prev[n] = node;
    }

    /// Takes call `op`'s events (the call at `node`) out of the list.
    fn lift(&mut self, node: usize, op: usize) {
        self.unlink(node);
        if let Some(ret) = self.return_of[op] {
            self.unlink(ret);
        }
    }

    /// Puts back what [`Events::lift`] took out (in the reverse order).
    fn unlift(&mut self, node: usize, op: usize) {
        if let Some(ret) = self.return_of[op] {
            self.relink(ret);
        }
        self.relink(node);
    }
}

/// Whether `ops` is linearizable with respect to `model`, searching for at most `limit`.
pub fn check<M: Model>(model: &M, ops: &[Timed<M::Op>], limit: Duration) -> Verdict {
    let started = Instant::now();
    let mut list = Events::new(ops);
    let end = list.sentinel();
    let mut state = model.init();
    let mut linearized = Bits::new(ops.len());
    let mut seen: HashSet<(Bits, M::State)> = HashSet::new();
    // The calls linearized so far: (its call event, the state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut longest: Vec<usize> = Vec::new();
    let mut node = list.first();
    let mut steps: u64 = 0;
    loop {
        steps += 1;
        if steps.is_multiple_of(4096) && started.elapsed() > limit {
            return Verdict::Unknown;
        }
        if node == end {
            return Verdict::Linearizable;
        }
        match list.events[node] {
            Event::Call(op) => {
                let next_state = model.step(&state, &ops[op].op);
                let mut advanced = false;
                if let Some(next_state) = next_state {
                    let mut with = linearized.clone();
                    with.set(op);
                    if seen.insert((with.clone(), next_state.clone())) {
                        stack.push((node, std::mem::replace(&mut state, next_state)));
                        linearized = with;
                        list.lift(node, op);
                        if stack.len() > longest.len() {
                            longest = stack.iter().map(|(n, _)| call_of(&list, *n)).collect();
                        }
                        node = list.first();
                        advanced = true;
                    }
                }
                if !advanced {
                    node = list.next[node];
                }
            }
            Event::Return(_) => {
                let Some((call, before)) = stack.pop() else {
                    return Verdict::NotLinearizable { longest };
                };
                let op = call_of(&list, call);
                linearized.clear(op);
                state = before;
                list.unlift(call, op);
                node = list.next[call];
            }
        }
    }
}

fn call_of(list: &Events, node: usize) -> usize {
    match list.events[node] {
        Event::Call(op) | Event::Return(op) => op,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register holding a number, initially 0.
    struct Register;

    #[derive(Debug, Clone)]
    enum RegisterOp {
        Write(u32),
        Read(u32),
    }

    impl Model for Register {
        type State = u32;
        type Op = RegisterOp;
        fn init(&self) -> u32 {
            0
        }
        fn step(&self, state: &u32, op: &RegisterOp) -> Option<u32> {
            match op {
                RegisterOp::Write(v) => Some(*v),
                RegisterOp::Read(v) => (v == state).then_some(*state),
            }
        }
    }

    fn op(invoke: u64, ret: Option<u64>, op: RegisterOp) -> Timed<RegisterOp> {
        Timed { invoke, ret, op }
    }

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn concurrent_reads_may_see_either_side_of_a_write() {
        // C0: |---- write 100 ----|
        // C1:   |- read 100 -|
        // C2:     |- read 0 -|
        let ops = [
            op(0, Some(100), RegisterOp::Write(100)),
            op(10, Some(30), RegisterOp::Read(100)),
            op(20, Some(40), RegisterOp::Read(0)),
        ];
        assert_eq!(check(&Register, &ops, LIMIT), Verdict::Linearizable);
    }

    #[test]
    fn a_read_after_a_read_of_the_new_value_cannot_see_the_old_one() {
        // C1 saw 100 and returned before C2 began: C2 reading 0 is a stale read.
        let ops = [
            op(0, Some(100), RegisterOp::Write(100)),
            op(10, Some(20), RegisterOp::Read(100)),
            op(30, Some(40), RegisterOp::Read(0)),
        ];
        assert!(matches!(
            check(&Register, &ops, LIMIT),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn a_write_that_returned_is_seen_by_later_reads() {
        let ops = [
            op(0, Some(10), RegisterOp::Write(1)),
            op(20, Some(30), RegisterOp::Read(0)),
        ];
        assert!(matches!(
            check(&Register, &ops, LIMIT),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn an_ambiguous_write_may_take_effect_late_or_never() {
        let late = [
            op(0, None, RegisterOp::Write(7)),
            op(10, Some(20), RegisterOp::Read(0)),
            op(30, Some(40), RegisterOp::Read(7)),
        ];
        assert_eq!(check(&Register, &late, LIMIT), Verdict::Linearizable);
        let never = [
            op(0, None, RegisterOp::Write(7)),
            op(10, Some(20), RegisterOp::Read(0)),
        ];
        assert_eq!(check(&Register, &never, LIMIT), Verdict::Linearizable);
        // But once seen, it cannot be undone.
        let undone = [
            op(0, None, RegisterOp::Write(7)),
            op(10, Some(20), RegisterOp::Read(7)),
            op(30, Some(40), RegisterOp::Read(0)),
        ];
        assert!(matches!(
            check(&Register, &undone, LIMIT),
            Verdict::NotLinearizable { .. }
        ));
    }

    #[test]
    fn the_longest_partial_linearization_stops_before_the_culprit() {
        let ops = [
            op(0, Some(10), RegisterOp::Write(1)),
            op(20, Some(30), RegisterOp::Read(1)),
            op(40, Some(50), RegisterOp::Read(2)),
        ];
        let Verdict::NotLinearizable { longest } = check(&Register, &ops, LIMIT) else {
            panic!("not linearizable");
        };
        assert_eq!(longest, vec![0, 1]);
    }

    #[test]
    fn an_empty_history_is_linearizable() {
        assert_eq!(check(&Register, &[], LIMIT), Verdict::Linearizable);
    }

    #[test]
    fn many_concurrent_clients_are_checked_quickly() {
        // 8 clients, 200 rounds: each round every client writes its own value, overlapping
        // the others, then reads the last writer's value after all writes returned.
        let mut ops = Vec::new();
        for round in 0..200u64 {
            let base = round * 1000;
            for client in 0..8u64 {
                let value = u32::try_from(round * 8 + client + 1).unwrap_or(u32::MAX);
                ops.push(op(
                    base + client,
                    Some(base + 100 + client),
                    RegisterOp::Write(value),
                ));
            }
            let last = u32::try_from(round * 8 + 8).unwrap_or(u32::MAX);
            ops.push(op(base + 500, Some(base + 600), RegisterOp::Read(last)));
        }
        assert_eq!(check(&Register, &ops, LIMIT), Verdict::Linearizable);
    }
}
