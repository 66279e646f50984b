//! Tests of the ordering lanes ([`super::order_lanes`], [`super::order_lane_of`]).

use super::*;

#[test]
fn lanes_fill_twice_the_window_with_the_brokers_queues_up_to_eight() {
    // (window, queues of the topic on the broker) -> lanes per queue
    let cases = [
        ((8, 4), 4),
        ((8, 8), 2),
        ((8, 16), 1),
        ((8, 32), 1),
        ((8, 3), 8),
        ((8, 1), 8),
        ((8, 0), 8),
        ((64, 4), 8),
        ((64, 16), 8),
        ((64, 64), 2),
        ((1, 4), 1),
        ((0, 4), 1),
    ];
    for ((window, queues), want) in cases {
        assert_eq!(
            order_lanes(window, queues),
            want,
            "window {window}, {queues} queues"
        );
    }
}

#[test]
fn a_keys_lane_among_fewer_lanes_is_its_lane_among_more_shifted() {
    // Keys that share a lane among eight share it among four, two and one, so a group of
    // clients per lane among more lanes is never split across lanes among fewer.
    for i in 0..10_000u64 {
        let h = key_hash(format!("client-{i}").as_bytes());
        let eight = order_lane_of(h, 8);
        assert_eq!(eight, order_lane(h));
        assert!(eight < 8);
        assert_eq!(order_lane_of(h, 4), eight >> 1);
        assert_eq!(order_lane_of(h, 2), eight >> 2);
        assert_eq!(order_lane_of(h, 1), 0);
        // Out of range asks for the nearest valid count.
        assert_eq!(order_lane_of(h, 0), 0);
        assert_eq!(order_lane_of(h, 64), eight);
    }
}

#[test]
fn lanes_spread_keys_evenly() {
    for lanes in [2u32, 4, 8] {
        let mut per = vec![0usize; lanes as usize];
        let n = 16_000;
        for i in 0..n {
            per[order_lane_of(key_hash(format!("client-{i}").as_bytes()), lanes) as usize] += 1;
        }
        let mean = n / lanes as usize;
        for (lane, &c) in per.iter().enumerate() {
            assert!(
                c.abs_diff(mean) * 10 < mean,
                "{lanes} lanes: lane {lane} has {c} of {n} keys"
            );
        }
    }
}
