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

    pub(super) fn avoided(&self, now: Instant) -> bool {
        self.avoid_until.lock().is_some_and(|t| now < t)
    }

    pub(super) fn mark_failed(&self, avoid: Duration) {
        *self.avoid_until.lock() = Some(Instant::now() + avoid);
    }
}
