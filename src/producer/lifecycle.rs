//! The producer's threads in one place: the housekeeping thread (heartbeats and broker pruning)
//! is started here, and [`Inner::shutdown`] stops everything in order: housekeeping, then every
//! broker worker against one deadline, then the broker connections (UNREGISTER_CLIENT) and the
//! route refresh. Broker workers themselves start on first use ([`worker::ensure`]) and a pruned
//! broker's worker is joined by [`Inner::prune_brokers`].

use super::{
    worker, AttemptError, BrokerState, Inner, SendErrorKind, BROKER_PRUNE_GRACE_REFRESHES,
};
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

/// How long [`Inner::prune_brokers`] waits for the worker of a pruned broker (idle by then: it had
/// no job when it was picked) to exit.
const PRUNE_JOIN_DEADLINE: Duration = Duration::from_secs(5);

impl Inner {
    /// Forgets brokers absent from every cached route for [`BROKER_PRUNE_GRACE_REFRESHES`] refresh
    /// intervals with no async job: taken out of the map under its lock, then (without any lock
    /// held) retired, their worker joined and their connections closed. Called by the
    /// housekeeping thread every refresh interval.
    pub(super) fn prune_brokers(&self) {
        let live = self.routes.master_addrs();
        let grace = self
            .cfg
            .route
            .refresh_interval
            .saturating_mul(BROKER_PRUNE_GRACE_REFRESHES);
        let now = Instant::now();
        let pruned: Vec<Arc<BrokerState>> = {
            let mut map = self.brokers.lock();
            let mut out = Vec::new();
            map.retain(|addr, b| {
                let mut left = b.left_routes_at.lock();
                if live.contains(addr) {
                    *left = None;
                    return true;
                }
                let since = *left.get_or_insert(now);
                let busy = b.worker.lock().as_ref().is_some_and(|w| w.load() > 0);
                if now.duration_since(since) < grace || busy {
                    return true;
                }
                out.push(Arc::clone(b));
                false
            });
            out
        };
        for b in pruned {
            log::info!(
                "broker left every route, closing its worker and connections addr={}",
                b.addr
            );
            let handle = {
                let mut w = b.worker.lock();
                b.retired.store(true, Ordering::SeqCst);
                w.take()
            };
            if let Some(h) = handle {
                for job in h.finish(Instant::now() + PRUNE_JOIN_DEADLINE, &b) {
                    // A retry queued for a broker no route names any more: settled, never dropped.
                    let kind = job.unknown_or(SendErrorKind::NotSent {
                        last: AttemptError::BrokerLeftRoutes {
                            broker: b.addr.clone(),
                        },
                    });
                    job.complete(Err(kind));
                }
            }
            b.close_connections();
        }
    }
}
