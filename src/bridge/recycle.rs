//! The buffers of stored messages, handed back to the threads that build messages (issue #22).
//!
//! A host thread allocates each message's body and properties, and the producer's thread frees them
//! once the broker stored the message. With glibc's allocator that costs both threads the slow path:
//! the freeing thread's per-thread cache is always full, the allocating thread's always empty, so
//! each buffer goes through the shared arena twice. `perf` over `run` on Apache RocketMQ 5.5.0 put
//! malloc and free at about a sixth of the process's CPU.
//!
//! Here the producer gives the stored messages to [`give_back`] (through
//! [`crate::producer::Producer::recycle_with`]), which keeps their buffers on one shared stack per
//! kind under one lock per batch. A host thread takes up to [`LOCAL_MAX`] of each at a time into
//! its own stacks, under one lock, and [`body`] and [`properties`] take from those.
//!
//! Bounded: the shared stacks keep at most [`POOL_MAX`] buffers of each kind and each host thread
//! at most [`LOCAL_MAX`]; a buffer of more than [`BUF_MAX`] bytes is never kept; anything else is
//! freed as before. A buffer is used only for a message that fills most of it ([`fits`]), so a
//! message holds at most about a quarter more than the bytes the budget counts for it.

use crate::message::{Message, Properties};
use parking_lot::Mutex;
use std::cell::RefCell;

/// Largest buffer kept (bytes of capacity).
const BUF_MAX: usize = 1024;
/// Buffers of each kind the shared stacks keep at most.
const POOL_MAX: usize = 256;
/// Buffers of each kind a host thread takes at once and keeps at most.
const LOCAL_MAX: usize = 64;

/// Bodies and property buffers, empty, with their room.
struct Stacks {
    bodies: Vec<Vec<u8>>,
    props: Vec<String>,
}

impl Stacks {
    const fn new() -> Stacks {
        Stacks {
            bodies: Vec::new(),
            props: Vec::new(),
        }
    }
}

/// What the producer's threads gave back.
static SHARED: Mutex<Stacks> = Mutex::new(Stacks::new());

thread_local! {
    /// This host thread's share.
    static LOCAL: RefCell<Stacks> = const { RefCell::new(Stacks::new()) };
}

/// Whether a buffer of `cap` bytes is used for `len` bytes: it has the room, and no more than a
/// quarter (and 64 bytes) beyond.
pub(crate) fn fits(cap: usize, len: usize) -> bool {
    cap >= len && cap <= len + len / 4 + 64
}

/// Moves up to [`LOCAL_MAX`] buffers of each kind from `shared` to `local`, under one lock.
fn refill(shared: &Mutex<Stacks>, local: &mut Stacks) {
    /// The top buffers of `from` onto `to`, until `to` holds [`LOCAL_MAX`].
    fn top_up<T>(from: &mut Vec<T>, to: &mut Vec<T>) {
        let n = from.len().min(LOCAL_MAX.saturating_sub(to.len()));
        to.extend(from.drain(from.len() - n..));
    }
    let mut shared = shared.lock();
    top_up(&mut shared.bodies, &mut local.bodies);
    top_up(&mut shared.props, &mut local.props);
}

/// How many of the top buffers [`take`] looks through for one of exactly the length asked for.
const EXACT_LOOK: usize = 16;

/// Takes a buffer from `local`'s stack `pick` (refilled from `shared` when empty): one of exactly
/// `len` bytes among the top [`EXACT_LOOK`] (a body in one becomes a `Bytes` without the separate
/// header `bytes` allocates for a vector with spare room), else the top one if it [`fits`] `len`;
/// one that does not is freed here, on the builder's thread.
fn take<T>(
    shared: &Mutex<Stacks>,
    local: &mut Stacks,
    pick: fn(&mut Stacks) -> &mut Vec<T>,
    cap: fn(&T) -> usize,
    len: usize,
) -> Option<T> {
    if pick(local).is_empty() {
        refill(shared, local);
    }
    let stack = pick(local);
    let from = stack.len().saturating_sub(EXACT_LOOK);
    if let Some(i) = stack[from..].iter().rposition(|b| cap(b) == len) {
        return Some(stack.remove(from + i));
    }
    let b = stack.pop()?;
    fits(cap(&b), len).then_some(b)
}

fn bodies(s: &mut Stacks) -> &mut Vec<Vec<u8>> {
    &mut s.bodies
}

fn props(s: &mut Stacks) -> &mut Vec<String> {
    &mut s.props
}

/// An empty body buffer with room for `len` bytes: a recycled one when this thread has one that
/// [`fits`], else a new one of exactly `len`.
pub(crate) fn body(len: usize) -> Vec<u8> {
    LOCAL
        .try_with(|l| take(&SHARED, &mut l.borrow_mut(), bodies, Vec::capacity, len))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(len))
}

/// Empty properties with room for `len` bytes of entries, in a recycled buffer when this thread
/// has one that [`fits`].
pub(crate) fn properties(len: usize) -> Properties {
    match LOCAL
        .try_with(|l| take(&SHARED, &mut l.borrow_mut(), props, String::capacity, len))
        .ok()
        .flatten()
    {
        Some(buf) => Properties::with_buffer(buf),
        None => Properties::with_capacity(len),
    }
}

/// Keeps the buffers of `msgs` (stored messages) for the host threads, up to the bounds; the
/// rest is dropped here. A body still shared (a payload the host holds too) is not kept.
pub(crate) fn give_back(msgs: Vec<Message>) {
    give_back_to(&SHARED, msgs)
}

fn give_back_to(shared: &Mutex<Stacks>, msgs: Vec<Message>) {
    let mut shared = shared.lock();
    for m in msgs {
        let Message {
            body, properties, ..
        } = m;
        if shared.props.len() < POOL_MAX {
            let mut buf = properties.into_buffer();
            if buf.capacity() <= BUF_MAX {
                buf.clear();
                shared.props.push(buf);
            }
        }
        if shared.bodies.len() < POOL_MAX && body.len() <= BUF_MAX {
            if let Ok(mut b) = body.try_into_mut() {
                // Emptied first: the conversion moves the bytes it holds to the buffer's start.
                b.clear();
                let v = Vec::from(b);
                if v.capacity() <= BUF_MAX {
                    shared.bodies.push(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn fits_takes_room_and_at_most_a_quarter_more() {
        assert!(fits(100, 100));
        assert!(fits(189, 100));
        assert!(!fits(190, 100));
        assert!(!fits(99, 100));
        assert!(fits(64, 0));
    }

    /// (bodies, property buffers) on `shared`.
    fn lens(shared: &Mutex<Stacks>) -> (usize, usize) {
        let s = shared.lock();
        (s.bodies.len(), s.props.len())
    }

    fn message(body: Bytes, props_room: usize) -> Message {
        let mut m = Message::new("T", body);
        m.properties = Properties::with_capacity(props_room);
        m.properties.push("KEYS", "k-1");
        m
    }

    #[test]
    fn a_stored_message_s_buffers_come_back_to_a_builder_with_their_room() {
        let shared = Mutex::new(Stacks::new());
        let mut local = Stacks::new();
        let v = vec![b'x'; 300];
        let body_at = v.as_ptr();
        let m = message(Bytes::from(v), 200);
        give_back_to(&shared, vec![m]);
        assert_eq!(lens(&shared), (1, 1));
        // The same allocation, empty: a 290-byte body fits a 300-byte buffer.
        let b = take(&shared, &mut local, bodies, Vec::capacity, 290).unwrap();
        assert_eq!((b.as_ptr(), b.len(), b.capacity()), (body_at, 0, 300));
        // The refill took the property buffer too: one lock for both.
        assert_eq!(local.props.len(), 1);
        assert!(shared.lock().props.is_empty());
        let p = take(&shared, &mut local, props, String::capacity, 190).unwrap();
        assert_eq!(p.len(), 0);
        assert!(p.capacity() >= 200, "{}", p.capacity());
        // Nothing left: the caller allocates.
        assert!(take(&shared, &mut local, bodies, Vec::capacity, 10).is_none());
    }

    #[test]
    fn a_buffer_of_exactly_the_length_is_taken_first() {
        let shared = Mutex::new(Stacks::new());
        let mut local = Stacks::new();
        // Pushed in this order: 200 bytes at the bottom, 230 on top (both fit 200).
        let msgs = [200, 210, 230]
            .map(|n| message(Bytes::from(vec![0u8; n]), 16))
            .to_vec();
        give_back_to(&shared, msgs);
        let b = take(&shared, &mut local, bodies, Vec::capacity, 200).unwrap();
        assert_eq!(b.capacity(), 200);
        // No exact one left for 205: the top one, which fits.
        let b = take(&shared, &mut local, bodies, Vec::capacity, 205).unwrap();
        assert_eq!(b.capacity(), 230);
        // A body built in an exact buffer needs no separate header: it comes back whole.
        let mut v = take(&shared, &mut local, bodies, Vec::capacity, 210).unwrap();
        let at = v.as_ptr();
        v.extend_from_slice(&[7u8; 210]);
        give_back_to(&shared, vec![message(Bytes::from(v), 16)]);
        let b = take(&shared, &mut local, bodies, Vec::capacity, 210).unwrap();
        assert_eq!((b.as_ptr(), b.capacity()), (at, 210));
    }

    #[test]
    fn a_buffer_too_small_or_too_large_for_the_message_is_not_used() {
        let shared = Mutex::new(Stacks::new());
        let mut local = Stacks::new();
        give_back_to(&shared, vec![message(Bytes::from(vec![0u8; 100]), 16)]);
        // 101 bytes do not fit a 100-byte buffer; the buffer is freed, not put back.
        assert!(take(&shared, &mut local, bodies, Vec::capacity, 101).is_none());
        assert!(local.bodies.is_empty() && lens(&shared).0 == 0);
        give_back_to(&shared, vec![message(Bytes::from(vec![0u8; 1000]), 16)]);
        assert!(take(&shared, &mut local, bodies, Vec::capacity, 10).is_none());
    }

    #[test]
    fn the_stacks_stay_within_their_bounds() {
        let shared = Mutex::new(Stacks::new());
        // Each body its own (a clone shares its body, which then is not kept).
        let msgs: Vec<Message> = (0..POOL_MAX + 50)
            .map(|_| message(Bytes::from(vec![1u8; 64]), 64))
            .collect();
        give_back_to(&shared, msgs);
        assert_eq!(lens(&shared), (POOL_MAX, POOL_MAX));
        let mut local = Stacks::new();
        refill(&shared, &mut local);
        assert_eq!(
            (local.bodies.len(), local.props.len()),
            (LOCAL_MAX, LOCAL_MAX)
        );
        assert_eq!(shared.lock().bodies.len(), POOL_MAX - LOCAL_MAX);
        // A body shared with the host is not kept; buffers over BUF_MAX neither.
        let other = Mutex::new(Stacks::new());
        let held = Bytes::from(vec![2u8; 64]);
        give_back_to(
            &other,
            vec![
                message(held.clone(), 16),
                message(Bytes::from(vec![0u8; BUF_MAX + 1]), BUF_MAX + 1),
            ],
        );
        assert_eq!(other.lock().bodies.len(), 0);
        assert_eq!(
            other.lock().props.len(),
            1,
            "only the small property buffer"
        );
        drop(held);
    }
}
