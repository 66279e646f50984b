//! One thread lifecycle for the whole library: every long-lived thread is a [`Worker`].
//!
//! A worker is a named thread with a stop signal and a "done" signal:
//! - [`Worker::spawn`] runs a body that receives a [`Stop`]; the body waits on it (alone, with
//!   [`Stop::wait`], or inside a `select!` through [`Stop::receiver`]) and returns when it fires.
//! - [`Worker::periodic`] runs a tick body every `interval` until stopped, or until the body returns
//!   [`Tick::Done`] (for example when the `Weak` it holds no longer upgrades).
//! - [`Worker::stop_within`] signals the stop and waits until a deadline; it joins the thread
//!   if it ended (`true`) and otherwise leaves it running detached (`false`), so a stuck peer can
//!   never hold a shutdown past its deadline. [`Worker::join`] waits without a deadline.
//! - [`Worker::wait_until`] waits until a deadline *without* signalling the stop, for a body
//!   that ends on a signal of its own (a closed job queue, a control message); a worker it
//!   missed stays attached, so the owner can escalate and wait again.
//! - Dropping a worker signals the stop and does not wait (as `stop_within(now)`); an owner that
//!   may be dropped on its worker's own thread checks [`Worker::is_current`] before waiting.
//!
//! Stopping is "drop the sender": the [`Stop`] fires when the worker's stop sender is dropped,
//! so it also fires when the owner itself is dropped. The done signal is the same trick the other
//! way round: the thread holds a sender that is dropped when its body returns or unwinds.

use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, tick, Receiver, RecvTimeoutError, Sender};

/// The stop side a worker's body receives.
#[derive(Debug, Clone)]
pub struct Stop {
    rx: Receiver<()>,
}

impl Stop {
    /// A stop that never fires (for code that runs a worker body inline).
    pub fn never() -> Stop {
        Stop { rx: never() }
    }

    /// Whether the stop has been signalled.
    pub fn is_stopped(&self) -> bool {
        matches!(
            self.rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected) | Ok(())
        )
    }

    /// Waits up to `timeout`; `true` if the stop was signalled (before or during the wait).
    pub fn wait(&self, timeout: Duration) -> bool {
        !matches!(
            self.rx.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// The channel that becomes ready (disconnected) on stop, for use in `select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.rx
    }
}

/// What a periodic body asks for after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Keep ticking.
    Continue,
    /// End the worker (its subject is gone).
    Done,
}

/// A named thread with a stop signal; see the module docs.
#[derive(Debug)]
pub struct Worker {
    name: String,
    stop: Option<Sender<()>>,
    done: Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a thread named `name` running `body`, which must return soon after its [`Stop`]
    /// fires.
    ///
    /// # Errors
    /// The OS refused the thread (the caller decides whether that is fatal).
    pub fn spawn<F>(name: &str, body: F) -> io::Result<Worker>
    where
        F: FnOnce(Stop) + Send + 'static,
    {
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let (done_tx, done_rx) = bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _done = done_tx;
                body(Stop { rx: stop_rx });
            })?;
        Ok(Worker {
            name: name.to_owned(),
            stop: Some(stop_tx),
            done: done_rx,
            handle: Some(handle),
        })
    }

    /// Starts a thread named `name` that calls `tick_body` every `interval` (the first call one
    /// interval after the start) until stopped or until `tick_body` returns [`Tick::Done`].
    /// A zero interval never ticks: the thread only waits for its stop.
    ///
    /// # Errors
    /// As [`Worker::spawn`].
    pub fn periodic<F>(name: &str, interval: Duration, mut tick_body: F) -> io::Result<Worker>
    where
        F: FnMut() -> Tick + Send + 'static,
    {
        Worker::spawn(name, move |stop| {
            let ticks = if interval.is_zero() {
                never()
            } else {
                tick(interval)
            };
            loop {
                crossbeam_channel::select! {
                    recv(ticks) -> _ => {
                        if tick_body() == Tick::Done {
                            break;
                        }
                    }
                    recv(stop.receiver()) -> _ => break,
                }
            }
        })
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Signals the stop without waiting.
    pub fn signal_stop(&mut self) {
        self.stop = None;
    }

    /// Whether the caller runs on this worker's thread (then it must not wait for it: an owner
    /// dropped by its own worker only signals the stop).
    pub fn is_current(&self) -> bool {
        self.handle
            .as_ref()
            .is_some_and(|h| h.thread().id() == std::thread::current().id())
    }

    /// Waits for the thread until `deadline` without signalling the stop, for a body that ends on
    /// a signal of its own (a closed job queue, a control message). Returns `true` when the thread
    /// ended (it is joined), `false` when it was still running at the deadline: it stays attached,
    /// so the caller can wait again or [`stop_within`](Worker::stop_within) it (dropping the
    /// worker leaves it detached, without a log line).
    pub fn wait_until(&mut self, deadline: Instant) -> bool {
        let Some(handle) = self.handle.take() else {
            return true;
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if handle.join().is_err() {
                    log::warn!("thread {} ended by a panic", self.name);
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                self.handle = Some(handle);
                false
            }
        }
    }

    /// Signals the stop and waits for the thread until `deadline`. Returns `true` when the thread
    /// ended (it is joined), `false` when it was still running at the deadline (it is left
    /// detached and logged; it ends on its own).
    pub fn stop_within(&mut self, deadline: Instant) -> bool {
        self.signal_stop();
        if self.wait_until(deadline) {
            return true;
        }
        self.handle = None;
        log::warn!(
            "thread {} still running at its stop deadline; left detached",
            self.name
        );
        false
    }

    /// Signals the stop and waits for the thread however long it takes. `false` if it panicked.
    pub fn join(mut self) -> bool {
        self.signal_stop();
        match self.handle.take() {
            Some(h) => h.join().is_ok(),
            None => true,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Signal only: a drop never blocks (a worker may be dropped from its own thread).
        self.stop = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_stopped_worker_ends_and_is_joined_within_the_deadline() {
        let mut w = Worker::spawn(
            "t-stop",
            |stop| {
                while !stop.wait(Duration::from_secs(10)) {}
            },
        )
        .unwrap();
        assert!(!w.is_finished());
        let t0 = Instant::now();
        assert!(w.stop_within(Instant::now() + Duration::from_secs(5)));
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(w.is_finished());
    }

    #[test]
    fn a_stuck_worker_is_left_detached_at_the_deadline() {
        let (release_tx, release_rx) = bounded::<()>(0);
        let mut w = Worker::spawn("t-stuck", move |_stop| {
            let _ = release_rx.recv();
        })
        .unwrap();
        let t0 = Instant::now();
        assert!(!w.stop_within(Instant::now() + Duration::from_millis(50)));
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(2),
            "{took:?}"
        );
        drop(release_tx);
    }

    #[test]
    fn periodic_ticks_until_done_or_stopped() {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = Arc::clone(&n);
        let w = Worker::periodic("t-tick", Duration::from_millis(1), move || {
            if n2.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                Tick::Done
            } else {
                Tick::Continue
            }
        })
        .unwrap();
        let t0 = Instant::now();
        while !w.is_finished() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(w.is_finished(), "a body returning Done ends the worker");
        assert!(w.join());
        assert_eq!(n.load(Ordering::SeqCst), 3);

        let m = Arc::new(AtomicUsize::new(0));
        let m2 = Arc::clone(&m);
        let mut w = Worker::periodic("t-tick2", Duration::from_secs(3600), move || {
            m2.fetch_add(1, Ordering::SeqCst);
            Tick::Continue
        })
        .unwrap();
        assert!(w.stop_within(Instant::now() + Duration::from_secs(5)));
        assert_eq!(m.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn wait_until_leaves_a_busy_worker_attached_and_joins_it_later() {
        let (release_tx, release_rx) = bounded::<()>(0);
        let mut w = Worker::spawn("t-wait", move |stop| {
            let _ = release_rx.recv();
            drop(stop);
        })
        .unwrap();
        assert!(!w.is_current());
        assert!(!w.wait_until(Instant::now() + Duration::from_millis(20)));
        assert!(!w.is_finished(), "still attached after a missed wait");
        drop(release_tx);
        assert!(w.wait_until(Instant::now() + Duration::from_secs(5)));
        assert!(w.is_finished());
        assert!(
            w.stop_within(Instant::now()),
            "an ended worker stops at once"
        );
    }

    #[test]
    fn is_current_is_true_only_on_the_workers_own_thread() {
        let (tx, rx) = bounded::<Worker>(1);
        let (seen_tx, seen_rx) = bounded::<bool>(1);
        let w = Worker::spawn("t-current", move |_stop| {
            let me = rx.recv().unwrap();
            let _ = seen_tx.send(me.is_current());
            // Dropped on its own thread: signals only, never waits for itself.
            drop(me);
        })
        .unwrap();
        assert!(!w.is_current());
        tx.send(w).unwrap();
        assert_eq!(seen_rx.recv_timeout(Duration::from_secs(5)), Ok(true));
    }

    #[test]
    fn dropping_the_owner_stops_the_body_and_a_panic_is_reported() {
        let (seen_tx, seen_rx) = bounded::<bool>(1);
        let w = Worker::spawn("t-drop", move |stop| {
            let stopped = stop.wait(Duration::from_secs(10));
            let _ = seen_tx.send(stopped);
        })
        .unwrap();
        drop(w);
        assert_eq!(seen_rx.recv_timeout(Duration::from_secs(5)), Ok(true));

        let w = Worker::spawn("t-panic", |_stop| panic!("on purpose")).unwrap();
        assert!(!w.join());
        assert!(!Stop::never().is_stopped());
    }
}
