//! Message ids: client-side `UNIQ_KEY` ids ([`UniqIdGenerator`], protocol reference §6.2) and
//! the broker's offset message id ([`create_offset_msg_id`], [`decode_offset_msg_id`], §6.3).

use super::MessageError;
use crate::util::ByteReader;
use parking_lot::Mutex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Builds an offset message id (§6.3) from a store address and commit-log offset.
pub fn create_offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&(store_host.port() as i32).to_be_bytes());
    bytes.extend_from_slice(&commit_log_offset.to_be_bytes());
    hex_upper(&bytes)
}

fn hex_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex_upper(&mut s, bytes);
    s
}

/// Appends `bytes` to `s` as upper-case hex, two digits a byte.
fn push_hex_upper(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xF) as usize] as char);
    }
}

/// §6.3 offset message id → (store address, commit-log offset). Accepts either case.
///
/// # Errors
/// [`MessageError::BadMessageId`] unless the id is 32 (IPv4) or 56 (IPv6) hex chars with a port
/// in range.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), MessageError> {
    let bad = |reason| MessageError::BadMessageId {
        id: id.to_owned(),
        reason,
    };
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return Err(bad("length is not 32 (IPv4) or 56 (IPv6)")),
    };
    let mut bytes = [0u8; 28];
    let digits = id.as_bytes();
    for (i, b) in bytes.iter_mut().take(id.len() / 2).enumerate() {
        let hi = (digits[2 * i] as char).to_digit(16);
        let lo = (digits[2 * i + 1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => *b = (h * 16 + l) as u8,
            _ => return Err(bad("not a hex string")),
        }
    }
    let ip = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&bytes[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let mut r = ByteReader::new(&bytes[ip_len..]); // 12 bytes left: never short
    let port = r.i32("port")?;
    let port = u16::try_from(port).map_err(|_| bad("port out of range"))?;
    let offset = r.i64("commit log offset")?;
    Ok((SocketAddr::new(ip, port), offset))
}

/// Client-side unique ids (`UNIQ_KEY`), §6.2 layout, 32 upper-case hex chars:
/// IPv4 `127.0.0.1` (4 bytes; this client does not look up interface addresses) ‖ pid low 16 bits
/// (2) ‖ 4 random bytes seeded from time and pid, in place of Java's class-loader hash (4) ‖
/// ms since 00:00 **UTC** on the 1st of the current month, truncated to 32 bits as Java's `(int)`
/// cast does (4) ‖ a 2-byte wrapping counter (2).
///
/// Thread-safe through `&self`. Ids are unique within one generator: if the counter wraps
/// within the same millisecond, `next_id` waits (at most a few ms) for the clock to move on.
pub struct UniqIdGenerator {
    prefix: String,
    state: Mutex<IdState>,
}

struct IdState {
    month_start_ms: i64,
    next_month_start_ms: i64,
    counter: u16,
    /// Time part in use when the counter last passed 0.
    wrap_time: Option<u32>,
}

impl Default for UniqIdGenerator {
    fn default() -> Self {
        UniqIdGenerator::new()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 → (year, month 1..=12). Howard Hinnant's civil-from-days.
fn civil_from_days(z: i64) -> (i64, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m)
}

/// (year, month, day 1) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5; // day 1 of the month
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Start of the UTC month containing `ms`, and of the next one, in ms since the epoch.
fn month_bounds(ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let (y, m) = civil_from_days(ms.div_euclid(DAY));
    let start = days_from_civil(y, m) * DAY;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (start, days_from_civil(ny, nm) * DAY)
}

impl UniqIdGenerator {
    /// A generator with a fresh random part.
    pub fn new() -> Self {
        let pid = std::process::id();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // splitmix64 finaliser over time, pid and this value's address.
        let local = 0u8;
        let mut x = nanos ^ ((pid as u64) << 32) ^ (&local as *const u8 as u64);
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let mut prefix_bytes = [0u8; 10];
        prefix_bytes[..4].copy_from_slice(&[127, 0, 0, 1]);
        prefix_bytes[4..6].copy_from_slice(&(pid as u16).to_be_bytes());
        prefix_bytes[6..].copy_from_slice(&(x as u32).to_be_bytes());
        let (start, next) = month_bounds(now_ms());
        UniqIdGenerator {
            prefix: hex_upper(&prefix_bytes),
            state: Mutex::new(IdState {
                month_start_ms: start,
                next_month_start_ms: next,
                counter: 0,
                wrap_time: None,
            }),
        }
    }

    /// The 20 hex chars fixed for this generator (ip, pid, random part).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The next id: 32 upper-case hex chars.
    pub fn next_id(&self) -> String {
        let mut id = String::with_capacity(self.prefix.len() + 12);
        self.push_next_id(&mut id);
        id
    }

    /// Appends the next id (as [`UniqIdGenerator::next_id`] gives it) to `out`, without a string
    /// of its own: the producer writes a batch's ids into one comma-joined string.
    pub fn push_next_id(&self, out: &mut String) {
        self.ids(1).push_next_id(out);
    }

    /// A run of `n` ids taken under one lock and one clock read (the producer takes a batch's ids
    /// so: one lock per id was the dispatcher's costliest step after the batch body in issue
    /// #22's profile). They are the ids `n` calls of [`UniqIdGenerator::push_next_id`] would give,
    /// all with the time of the first; a run that reaches the counter's wrap takes the rest under
    /// a second lock, so the wrap rule above holds for every id. Asking the run for more than `n`
    /// ids takes each extra one as `push_next_id` does.
    pub fn ids(&self, n: usize) -> UniqIds<'_> {
        UniqIds {
            generator: self,
            wanted: n.max(1),
            granted: 0,
            time_part: 0,
            counter: 0,
        }
    }

    /// Takes up to `n` (at least 1) ids: (time part, first counter, how many), never past the
    /// counter's wrap unless the run starts at 0 (then the clock is checked as for one id).
    fn grant(&self, n: usize) -> (u32, u16, usize) {
        let mut st = self.state.lock();
        let mut time_part = st.time_part();
        let c = st.counter;
        if c == 0 {
            if st.wrap_time == Some(time_part) {
                // 65536 ids in one ms: wait (bounded) for the clock to advance.
                let begin = Instant::now();
                while st.time_part() == time_part && begin.elapsed().as_millis() < 5 {
                    std::thread::yield_now();
                }
                time_part = st.time_part();
            }
            st.wrap_time = Some(time_part);
        }
        let room = (1usize << 16) - usize::from(c);
        let k = n.clamp(1, room);
        st.counter = c.wrapping_add(k as u16);
        (time_part, c, k)
    }
}

/// A run of ids from [`UniqIdGenerator::ids`].
pub struct UniqIds<'a> {
    generator: &'a UniqIdGenerator,
    /// Ids still to take from the generator (what the caller asked for, less those granted).
    wanted: usize,
    /// Ids granted and not yet written.
    granted: usize,
    time_part: u32,
    counter: u16,
}

impl UniqIds<'_> {
    /// Appends the run's next id (32 upper-case hex chars) to `out`.
    pub fn push_next_id(&mut self, out: &mut String) {
        if self.granted == 0 {
            let (t, c, k) = self.generator.grant(self.wanted);
            self.time_part = t;
            self.counter = c;
            self.granted = k;
            self.wanted = self.wanted.saturating_sub(k).max(1);
        }
        let counter = self.counter;
        self.counter = self.counter.wrapping_add(1);
        self.granted -= 1;
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&self.time_part.to_be_bytes());
        tail[4..].copy_from_slice(&counter.to_be_bytes());
        let prefix = &self.generator.prefix;
        out.reserve(prefix.len() + 2 * tail.len());
        out.push_str(prefix);
        push_hex_upper(out, &tail);
    }
}

impl IdState {
    fn time_part(&mut self) -> u32 {
        let now = now_ms();
        if now >= self.next_month_start_ms || now < self.month_start_ms {
            let (s, n) = month_bounds(now);
            self.month_start_ms = s;
            self.next_month_start_ms = n;
        }
        (now - self.month_start_ms) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_match_known_dates() {
        // 2023-11-14T22:13:20Z = 1_700_000_000_000 ms; 2023-11-01 = 1_698_796_800_000; 2023-12-01 = 1_701_388_800_000.
        assert_eq!(
            month_bounds(1_700_000_000_000),
            (1_698_796_800_000, 1_701_388_800_000)
        );
        // 2024-02 (leap): 2024-02-01 = 1_706_745_600_000, 2024-03-01 = 1_709_251_200_000.
        assert_eq!(
            month_bounds(1_709_251_199_999),
            (1_706_745_600_000, 1_709_251_200_000)
        );
        // December rolls the year: 2025-12-01 = 1_764_547_200_000, 2026-01-01 = 1_767_225_600_000.
        assert_eq!(
            month_bounds(1_764_547_200_000),
            (1_764_547_200_000, 1_767_225_600_000)
        );
        assert_eq!(month_bounds(0), (0, 31 * 86_400_000));
    }

    /// The counter part (last 4 hex digits) and the time part of an id.
    fn parts(id: &str) -> (u16, u32) {
        (
            u16::from_str_radix(&id[28..], 16).unwrap(),
            u32::from_str_radix(&id[20..28], 16).unwrap(),
        )
    }

    #[test]
    fn a_run_of_ids_counts_on_from_single_ids_and_shares_one_time() {
        let g = UniqIdGenerator::new();
        let first = g.next_id();
        let mut out = String::new();
        let mut run = g.ids(5);
        for _ in 0..7 {
            // Two more than asked for: taken one by one.
            run.push_next_id(&mut out);
        }
        assert_eq!(out.len(), 7 * 32);
        assert!(out.starts_with(g.prefix()));
        let ids: Vec<&str> = (0..7).map(|i| &out[32 * i..32 * (i + 1)]).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(parts(id).0, parts(&first).0 + 1 + i as u16, "{id}");
        }
        assert!(ids[..5].iter().all(|id| parts(id).1 == parts(ids[0]).1));
        assert_eq!(parts(&g.next_id()).0, parts(&first).0 + 8);
    }

    #[test]
    fn a_run_across_the_counter_wrap_takes_its_ids_in_parts() {
        let g = UniqIdGenerator::new();
        g.state.lock().counter = u16::MAX - 2;
        let mut out = String::new();
        let mut run = g.ids(6);
        for _ in 0..6 {
            run.push_next_id(&mut out);
        }
        let counters: Vec<u16> = (0..6)
            .map(|i| parts(&out[32 * i..32 * (i + 1)]).0)
            .collect();
        assert_eq!(counters, [65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(g.state.lock().counter, 3);
        // The second part of the run passed 0: the wrap was recorded.
        assert!(g.state.lock().wrap_time.is_some());
        // A run longer than the counter space is taken in parts: the counters run on.
        let mut run = g.ids((1 << 16) + 3);
        let mut id = String::new();
        for i in 0..(1usize << 16) + 3 {
            id.clear();
            run.push_next_id(&mut id);
            assert_eq!(parts(&id).0, (3 + i) as u16);
        }
        assert_eq!(g.state.lock().counter, 6);
    }

    #[test]
    fn hex_upper_is_upper_case() {
        assert_eq!(hex_upper(&[0x7f, 0x0a, 0xff]), "7F0AFF");
    }
}
