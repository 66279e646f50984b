//! Ordering keys: their hash ([`key_hash`]) and their lane in a queue ([`order_lanes`],
//! [`order_lane_of`]), shared by the producer's worker and the bridge's dispatcher.

/// The most ordering lanes per queue. Async sends with a key are serialized per (queue, lane): one
/// request of a lane is in flight at a time, while the other lanes of the same queue keep
/// pipelining. A key always maps to one lane, so its messages keep their order; keys of different
/// lanes share the queue but not the order. A queue has [`order_lanes`] lanes: twice as many as it
/// takes for the broker's queues of the topic to fill the async window, up to eight.
pub const ORDER_LANES: u32 = 8;

/// The ordering lane of a key hash among [`ORDER_LANES`] (see [`order_lane_of`]).
pub fn order_lane(key_hash: u64) -> u32 {
    order_lane_of(key_hash, ORDER_LANES)
}

/// The ordering lane of a key hash among `lanes` (a power of two, at most [`ORDER_LANES`]): the
/// top bits of a Fibonacci multiply, so that it does not depend on the bits that pick the queue.
/// With fewer lanes a key's lane is its lane among more lanes shifted right: keys that share a
/// lane among eight share it among four, two and one.
pub fn order_lane_of(key_hash: u64, lanes: u32) -> u32 {
    let top = key_hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    ((top * u64::from(lanes.clamp(1, ORDER_LANES))) >> 32) as u32
}

/// The ordering lanes of each queue of a topic on a broker that has `broker_queues` writable
/// queues of it, with `window` requests in flight per broker connection: twice as many lanes as
/// those queues need to fill the window (`2 * window / broker_queues`, rounded up to a power of
/// two), between 1 and [`ORDER_LANES`], so that while a lane waits for its answer another lane's
/// request is ready for the free place in the window. More lanes add nothing but smaller batches
/// where the sender groups messages per lane (the bridge's dispatcher does).
pub fn order_lanes(window: usize, broker_queues: usize) -> u32 {
    let need = (2 * window).div_ceil(broker_queues.max(1)).max(1);
    need.next_power_of_two().min(ORDER_LANES as usize) as u32
}

/// FNV-1a: a stable hash for ordering keys (the same across runs and Rust versions).
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
