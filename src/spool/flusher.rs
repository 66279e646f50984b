//! The flusher thread: writes buffered appends every tick, runs the interval and `always`
//! fsyncs, and keeps the `seq.hw` reservation ahead of the appends.

use super::config::{SyncPolicy, WRITE_TICK};
use super::error::SpoolError;
use super::state::Shared;
use crate::util::worker::Worker;
use crossbeam_channel::select;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts the flusher (thread `spool-flush`); [`Spool::close`](super::Spool::close) (or drop)
/// stops and joins it.
pub(super) fn spawn_flusher(shared: Arc<Shared>) -> Result<Worker, SpoolError> {
    let (tick, period) = match shared.cfg.sync {
        SyncPolicy::Interval(d) => (d.min(WRITE_TICK), Some(d)),
        _ => (WRITE_TICK, None),
    };
    let dir = shared.cfg.dir.clone();
    Worker::spawn("spool-flush", move |stop| {
        let mut last_sync = Instant::now();
        let mut next_tick = Instant::now() + tick;
        loop {
            // Top-ups asked for by appends run at once; the tick keeps its own period.
            select! {
                recv(stop.receiver()) -> _ => return,
                recv(shared.topup_rx) -> _ => {
                    if let Err(e) = shared.reserve(false) {
                        log::warn!("spool: reserving sequence numbers: {e}");
                    }
                    continue;
                }
                default(next_tick.saturating_duration_since(Instant::now())) => {}
            }
            next_tick = Instant::now() + tick;
            let due = period.is_some_and(|p| last_sync.elapsed() + Duration::from_millis(1) >= p)
                || (shared.cfg.sync == SyncPolicy::Always && {
                    let st = shared.state.lock();
                    st.durable_seq < st.next_seq
                });
            if due {
                last_sync = Instant::now();
            }
            if let Err(e) = shared.flush(due) {
                log::warn!("spool: flushing {}: {e}", shared.cfg.dir.display());
            }
            if let Err(e) = shared.tick_reservation() {
                log::warn!("spool: reserving sequence numbers: {e}");
            }
        }
    })
    .map_err(|e| SpoolError::io(dir, "spawn", e))
}
