//! The producer's threads in one place: the housekeeping thread (heartbeats and broker pruning)
//! is started here, and [`Inner::shutdown`] stops everything in order: housekeeping, then every
//! broker worker against one deadline, then the broker connections (UNREGISTER_CLIENT) and the
//! route refresh. Broker workers themselves start on first use ([`worker::ensure`]) and a pruned
//! broker's worker is joined by [`Inner::prune_brokers`].

use super::{worker, BrokerState, Inner, SendErrorKind};
use crate::remoting::codes::{HEART_BEAT, UNREGISTER_CLIENT};
use crate::remoting::RemotingCommand;
use crate::util::worker::{Stop, Worker};
use bytes::Bytes;
use crossbeam_channel::{select, tick};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Starts the housekeeping thread (`rmq-heartbeat`); [`Inner::shutdown`] joins it.
pub(super) fn start_housekeeping(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let heartbeat = inner.cfg.heartbeat_interval;
    let prune = inner
        .cfg
        .route
        .refresh_interval
        .max(Duration::from_millis(10));
    let w = Worker::spawn("rmq-heartbeat", move |stop| {
        heartbeat_loop(weak, heartbeat, prune, &stop)
    })
    .expect("spawn heartbeat thread");
    *inner.housekeeping.lock() = Some(w);
}

impl Inner {
    fn heartbeat(&self) {
        let brokers: Vec<Arc<BrokerState>> = self.brokers.lock().values().cloned().collect();
        let body = format!(
            "{{\"clientID\":{},\"consumerDataSet\":[],\"heartbeatFingerprint\":0,\"producerDataSet\":[{{\"groupName\":{}}},{{\"groupName\":\"CLIENT_INNER_PRODUCER\"}}],\"withoutSub\":false}}",
            serde_json::Value::from(self.client_id.as_str()),
            serde_json::Value::from(self.group.as_str())
        );
        for b in brokers {
            let conn = b.conn.lock().clone();
            if let Some(c) = conn.filter(|c| c.is_alive()) {
                let mut cmd =
                    RemotingCommand::request(HEART_BEAT).with_body(Bytes::from(body.clone()));
                self.acl.sign(&mut cmd);
                match c.invoke(&cmd, self.cfg.namesrv_timeout) {
                    Ok(r) if r.code == 0 => log::trace!("heartbeat ok addr={}", b.addr),
                    Ok(r) => log::debug!("heartbeat answered code={} addr={}", r.code, b.addr),
                    Err(e) => log::debug!("heartbeat failed addr={}: {e}", b.addr),
                }
            }
        }
    }

    /// Stops every thread of the producer, in order, within `deadline` for the broker workers
    /// (idempotent: only the first call does anything).
    pub(super) fn shutdown(&self, deadline: Duration) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        let until = Instant::now() + deadline;
        if let Some(w) = self.housekeeping.lock().take() {
            w.join();
        }
        let brokers: Vec<Arc<BrokerState>> = self.brokers.lock().values().cloned().collect();
        // Close every job queue first, then wait for each worker with the shared deadline.
        let workers: Vec<(worker::WorkerHandle, &Arc<BrokerState>)> = brokers
            .iter()
            .filter_map(|b| b.worker.lock().take().map(|w| (w, b)))
            .collect();
        let mut leftovers = Vec::new();
        for (w, b) in workers {
            leftovers.extend(w.finish(until, b));
        }
        for job in leftovers {
            let kind = job.unknown_or(SendErrorKind::Closed);
            job.complete(Err(kind));
        }
        for b in &brokers {
            let conn = b.conn.lock().take();
            if let Some(c) = conn.filter(|c| c.is_alive()) {
                let cmd = RemotingCommand::request(UNREGISTER_CLIENT)
                    .with_ext("clientID", &self.client_id)
                    .with_ext("producerGroup", &self.group);
                let _ = c.invoke(&cmd, Duration::from_millis(500));
                let _ = Arc::try_unwrap(c).map(|c| c.close());
            }
        }
        self.routes.stop();
    }
}

/// The housekeeping thread: heartbeats every `heartbeat` (none when zero) and prunes brokers that
/// left every route every `prune`.
fn heartbeat_loop(inner: Weak<Inner>, heartbeat: Duration, prune: Duration, stop: &Stop) {
    let beats = if heartbeat.is_zero() {
        crossbeam_channel::never()
    } else {
        tick(heartbeat)
    };
    let prunes = tick(prune);
    loop {
        select! {
            recv(beats) -> _ => match inner.upgrade() {
                Some(i) => i.heartbeat(),
                None => break,
            },
            recv(prunes) -> _ => match inner.upgrade() {
                Some(i) => i.prune_brokers(),
                None => break,
            },
            recv(stop.receiver()) -> _ => break,
        }
    }
}
