//! Per broker master: its shared connection, idle direct connections for sync sends, its avoid
//! window and its worker slot.

use super::{worker, Inner};
use crate::remoting::{Connection, DirectConnection, RemotingCommand};
use parking_lot::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle direct connections kept per broker for sync sends.
const MAX_IDLE_DIRECT: usize = 16;

/// Per broker master address.
pub(crate) struct BrokerState {
    pub(super) addr: String,
    pub(super) conn: Mutex<Option<Arc<Connection>>>,
    /// Idle connections for sync sends (see [`BrokerState::invoke_direct`]).
    pub(super) direct: Mutex<Vec<DirectConnection>>,
    pub(super) avoid_until: Mutex<Option<Instant>>,
    pub(super) no_batch: AtomicBool,
    pub(super) worker: Mutex<Option<worker::WorkerHandle>>,
    /// When the address was first seen absent from every cached route (`None`: routed to now).
    pub(super) left_routes_at: Mutex<Option<Instant>>,
    /// Set (under `worker`'s lock) once pruned: no new worker starts on it; senders holding it
    /// take a fresh state from the map.
    pub(super) retired: AtomicBool,
}

impl BrokerState {
    pub(super) fn new(addr: &str) -> BrokerState {
        BrokerState {
            addr: addr.to_owned(),
            conn: Mutex::new(None),
            direct: Mutex::new(Vec::new()),
            avoid_until: Mutex::new(None),
            no_batch: AtomicBool::new(false),
            worker: Mutex::new(None),
            left_routes_at: Mutex::new(None),
            retired: AtomicBool::new(false),
        }
    }

    pub(super) fn connection(
        &self,
        inner: &Inner,
    ) -> Result<Arc<Connection>, crate::remoting::Error> {
        let mut guard = self.conn.lock();
        if let Some(c) = guard.as_ref() {
            if c.is_alive() {
                return Ok(Arc::clone(c));
            }
        }
        // Connect while holding this broker's lock: concurrent senders to the same broker wait for
        // one connect instead of racing several.
        let dial = inner.cfg.dial_addr(&self.addr);
        let c = Arc::new(Connection::connect(dial, &inner.cfg.connection)?);
        log::debug!("broker connected addr={}", self.addr);
        *guard = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Sends one request on the caller's thread over an idle direct connection (a new one when
    /// none is idle) and reads the response there, without the reader-thread hand-off of the shared
    /// [`Connection`]: a sync send then costs no thread switch in our process. Each concurrent sync
    /// caller uses its own connection; at most [`MAX_IDLE_DIRECT`] stay open when idle.
    pub(super) fn invoke_direct(
        &self,
        inner: &Inner,
        cmd: &RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, crate::remoting::Error> {
        let deadline = Instant::now() + timeout;
        let mut conn = loop {
            let idle = self.direct.lock().pop();
            match idle {
                // A peer that closed meanwhile (a restarted broker) is noticed before writing; one
                // that floods is cut off at the drain caps or the deadline. Broken ones are dropped.
                Some(mut c) => {
                    if c.check_idle_until(deadline) {
                        break c;
                    }
                    if Instant::now() >= deadline {
                        return Err(crate::remoting::Error::ConnectionClosed {
                            addr: self.addr.clone(),
                            request_sent: false,
                        });
                    }
                }
                None => {
                    let dial = inner.cfg.dial_addr(&self.addr);
                    break DirectConnection::connect(dial, &inner.cfg.connection)?;
                }
            }
        };
        let r = conn.invoke(cmd, deadline.saturating_duration_since(Instant::now()));
        if !conn.is_broken() {
            let mut idle = self.direct.lock();
            if idle.len() < MAX_IDLE_DIRECT {
                idle.push(conn);
            }
        }
        r
    }

    /// Closes the shared and the idle direct connections (each dropped after its lock is released).
    pub(super) fn close_connections(&self) {
        let conn = self.conn.lock().take();
        drop(conn);
        let direct = std::mem::take(&mut *self.direct.lock());
        drop(direct);
    }

    pub(super) fn avoided(&self, now: Instant) -> bool {
        self.avoid_until.lock().is_some_and(|t| now < t)
    }

    pub(super) fn mark_failed(&self, avoid: Duration) {
        *self.avoid_until.lock() = Some(Instant::now() + avoid);
    }
}

impl Inner {
    /// The state of the broker at `addr` (created on first use).
    pub(super) fn broker(&self, addr: &str) -> Arc<BrokerState> {
        let mut map = self.brokers.lock();
        Arc::clone(
            map.entry(addr.to_owned())
                .or_insert_with(|| BrokerState::new(addr).into()),
        )
    }

    /// (brokers known, brokers with a worker thread), for tests.
    pub(super) fn broker_counts(&self) -> (usize, usize) {
        let map = self.brokers.lock();
        let workers = map.values().filter(|b| b.worker.lock().is_some()).count();
        (map.len(), workers)
    }

    /// True when the broker at `addr` failed recently and is avoided.
    pub(super) fn avoided(&self, addr: &str, now: Instant) -> bool {
        self.brokers
            .lock()
            .get(addr)
            .is_some_and(|b| b.avoided(now))
    }
}
