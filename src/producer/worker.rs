//! One worker thread per broker master: takes async jobs from a bounded queue and keeps up to
//! `async_window` requests in flight on the broker's connection (pipelining). A retryable failure
//! goes to another broker's worker through that worker's retry queue, which never blocks: retries
//! are bounded by the windows, since each comes from a request in flight.

use super::request::{classify_error, classify_response, Outcome};
use super::{AttemptError, BrokerState, Inner, Job, SendError, SendErrorKind, WindowFullPolicy};
use crate::remoting::connection::PendingResponse;
use crate::util::worker::Worker;
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender, TryRecvError, TrySendError};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// After the shutdown deadline, how long [`WorkerHandle::finish`] waits for an abandoning worker to
/// settle its jobs and exit.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct WorkerHandle {
    jobs: Sender<Job>,
    retries: Sender<Job>,
    retries_rx: Receiver<Job>,
    load: Arc<AtomicUsize>,
    /// The thread; its body ends when both job queues are closed (or on abandon), not on the
    /// worker's stop signal.
    thread: Worker,
    addr: String,
    abandon: Arc<AtomicBool>,
}

/// Decrements the producer's live-worker count when a worker thread ends (also by a panic).
struct LiveWorker(Arc<AtomicUsize>);

impl Drop for LiveWorker {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The worker of `broker`, started on first use; `Ok(None)` once the producer is closing;
/// `Err` with the reason when no worker can be started: [`MAX_BROKER_WORKERS`] are alive (routes
/// naming more brokers than any real cluster has) or the thread could not be spawned.
///
/// [`MAX_BROKER_WORKERS`]: super::MAX_BROKER_WORKERS
pub(crate) fn ensure(
    inner: &Arc<Inner>,
    broker: &Arc<BrokerState>,
) -> Result<Option<WorkerRef>, AttemptError> {
    let mut w = broker.worker.lock();
    if inner.closing.load(Ordering::SeqCst) || broker.retired.load(Ordering::SeqCst) {
        return Ok(None);
    }
    if w.is_none() {
        let (jobs_tx, jobs_rx) = bounded(inner.cfg.queue_capacity);
        let (retry_tx, retry_rx) = unbounded();
        let load = Arc::new(AtomicUsize::new(0));
        let abandon = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            abandon: Arc::clone(&abandon),
            inner: Arc::downgrade(inner),
            broker: Arc::clone(broker),
            jobs: jobs_rx,
            retries: retry_rx.clone(),
            window: inner.cfg.async_window.max(1),
            load: Arc::clone(&load),
        };
        let live = Arc::clone(&inner.live_workers);
        if live.fetch_add(1, Ordering::SeqCst) >= super::MAX_BROKER_WORKERS {
            live.fetch_sub(1, Ordering::SeqCst);
            return Err(AttemptError::WorkerCap {
                broker: broker.addr.clone(),
                max: super::MAX_BROKER_WORKERS,
            });
        }
        let guard = LiveWorker(Arc::clone(&live));
        let thread = Worker::spawn(&format!("rmq-send-{}", broker.addr), move |_stop| {
            let _live = guard;
            ctx.run()
        })
        .map_err(|e| {
            // The closure (and its guard) was dropped with the failed spawn.
            AttemptError::WorkerSpawn {
                broker: broker.addr.clone(),
                error: Arc::new(e),
            }
        })?;
        *w = Some(WorkerHandle {
            jobs: jobs_tx,
            retries: retry_tx,
            retries_rx: retry_rx,
            load,
            thread,
            addr: broker.addr.clone(),
            abandon,
        });
    }
    Ok(w.as_ref().map(|h| WorkerRef {
        jobs: h.jobs.clone(),
        retries: h.retries.clone(),
        load: Arc::clone(&h.load),
    }))
}

/// Senders to one worker.
pub(crate) struct WorkerRef {
    jobs: Sender<Job>,
    retries: Sender<Job>,
    load: Arc<AtomicUsize>,
}

impl WorkerRef {
    pub(crate) fn submit(
        &self,
        mut job: Job,
        retry: bool,
        policy: WindowFullPolicy,
        addr: &str,
    ) -> Result<(), SendError> {
        self.load.fetch_add(1, Ordering::SeqCst);
        let res = if retry {
            self.retries
                .send(job)
                .map_err(|e| (e.into_inner(), SendErrorKind::Closed))
        } else {
            match policy {
                WindowFullPolicy::Fail => self.jobs.try_send(job).map_err(|e| match e {
                    TrySendError::Full(j) => (
                        j,
                        SendErrorKind::WindowFull {
                            broker: addr.to_owned(),
                        },
                    ),
                    TrySendError::Disconnected(j) => (j, SendErrorKind::Closed),
                }),
                WindowFullPolicy::Block => {
                    let timeout = job.deadline.saturating_duration_since(Instant::now());
                    self.jobs.send_timeout(job, timeout).map_err(|e| match e {
                        crossbeam_channel::SendTimeoutError::Timeout(j) => (
                            j,
                            SendErrorKind::WindowFull {
                                broker: addr.to_owned(),
                            },
                        ),
                        crossbeam_channel::SendTimeoutError::Disconnected(j) => {
                            (j, SendErrorKind::Closed)
                        }
                    })
                }
            }
        };
        match res {
            Ok(()) => Ok(()),
            Err((j, kind)) => {
                self.load.fetch_sub(1, Ordering::SeqCst);
                job = j;
                if retry {
                    // The worker is gone (closing): report, never drop.
                    let kind = job.unknown_or(kind);
                    job.complete(Err(kind));
                    Ok(())
                } else {
                    Err(SendError::new(
                        kind,
                        std::mem::take(&mut job.prepared.messages),
                    ))
                }
            }
        }
    }
}

impl WorkerHandle {
    /// Jobs queued or in flight.
    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::SeqCst)
    }

    /// Closes the job queue, waits for the worker until `until`, and returns jobs it never took.
    ///
    /// A worker still busy at `until` (a hung broker) is told to abandon: the broker's connection
    /// is aborted to wake it, and it settles every job it holds (in flight: outcome unknown; queued
    /// or deferred: not sent) before it exits, so no callback comes after the shutdown's report.
    pub(crate) fn finish(self, until: Instant, broker: &BrokerState) -> Vec<Job> {
        let WorkerHandle {
            jobs,
            retries,
            retries_rx,
            mut thread,
            addr,
            abandon,
            ..
        } = self;
        drop(jobs);
        drop(retries);
        let mut finished = thread.wait_until(until);
        if !finished {
            log::warn!(
                "broker worker missed the shutdown deadline, abandoning its jobs addr={addr}"
            );
            abandon.store(true, Ordering::SeqCst);
            if let Some(c) = broker.conn.lock().as_ref() {
                c.abort();
            }
            finished = thread.wait_until(Instant::now() + ABANDON_GRACE);
        }
        if !finished {
            // Dropping `thread` leaves it detached; it exits once it has settled its jobs.
            log::error!("broker worker did not exit after abandoning addr={addr}");
        }
        retries_rx.try_iter().collect()
    }
}

struct Ctx {
    inner: Weak<Inner>,
    broker: Arc<BrokerState>,
    jobs: Receiver<Job>,
    retries: Receiver<Job>,
    window: usize,
    load: Arc<AtomicUsize>,
    /// Set by [`WorkerHandle::finish`] once the shutdown deadline passed.
    abandon: Arc<AtomicBool>,
}

impl Ctx {
    fn run(self) {
        let mut inflight: VecDeque<(PendingResponse, Job)> = VecDeque::new();
        // Ordered jobs (with a key) whose ordering lane already has a request in flight: brokers
        // may store pipelined requests of one connection out of order, so a lane (a queue and a
        // part of its keys, see `order_lane`) gets one ordered request at a time; other lanes and
        // queues keep pipelining.
        let mut deferred: VecDeque<Job> = VecDeque::new();
        let mut busy: HashSet<OrderLane> = HashSet::new();
        let mut open = true;
        loop {
            if self.abandon.load(Ordering::SeqCst) {
                self.abandon_all(inflight, deferred);
                return;
            }
            let mut i = 0;
            while i < deferred.len() && inflight.len() < self.window {
                if ordered_queue(&deferred[i]).is_some_and(|q| busy.contains(&q)) {
                    i += 1;
                    continue;
                }
                if let Some(job) = deferred.remove(i) {
                    self.launch(job, &mut inflight, &mut busy);
                }
            }
            // Deferred jobs do not count against the window: a job waiting for its lane must not
            // keep a job of an idle lane from starting.
            while inflight.len() < self.window && deferred.len() < self.window {
                let next = if let Ok(j) = self.retries.try_recv() {
                    Some(j)
                } else if !open {
                    None
                } else if inflight.is_empty() && deferred.is_empty() {
                    select! {
                        recv(self.retries) -> j => j.ok(),
                        recv(self.jobs) -> j => match j {
                            Ok(j) => Some(j),
                            Err(_) => { open = false; None }
                        },
                    }
                } else {
                    match self.jobs.try_recv() {
                        Ok(j) => Some(j),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            None
                        }
                    }
                };
                match next {
                    Some(job) if ordered_queue(&job).is_some_and(|q| busy.contains(&q)) => {
                        deferred.push_back(job)
                    }
                    Some(job) => self.launch(job, &mut inflight, &mut busy),
                    None => break,
                }
            }
            match inflight.pop_front() {
                Some((pending, job)) => {
                    let q = ordered_queue(&job);
                    let res = pending.wait();
                    let again = self.finish(job, res);
                    if let Some(q) = q {
                        busy.remove(&q);
                    }
                    // An ordered job the broker refused goes first again in its own lane.
                    if let Some(job) = again {
                        deferred.push_front(job);
                    }
                }
                None if !open && deferred.is_empty() => break,
                None => {}
            }
        }
        // Jobs still queued when the queue closed were drained above (`open` turns false only once
        // the channel is empty and disconnected); retries arriving later are collected by `finish`.
    }

    /// Settles every job this worker holds, after the shutdown deadline: a request in flight ends
    /// with its outcome unknown (the broker may have stored it), everything else as not sent.
    fn abandon_all(&self, inflight: VecDeque<(PendingResponse, Job)>, deferred: VecDeque<Job>) {
        let mut n = 0usize;
        for (pending, mut job) in inflight {
            drop(pending);
            job.maybe_stored
                .get_or_insert_with(|| (self.broker.addr.clone(), AttemptError::ShutdownDeadline));
            let kind = job.exhausted();
            job.complete(Err(kind));
            n += 1;
        }
        let queued = deferred
            .into_iter()
            .chain(self.retries.try_iter())
            .chain(self.jobs.try_iter());
        for job in queued {
            let kind = job.unknown_or(SendErrorKind::Closed);
            job.complete(Err(kind));
            n += 1;
        }
        self.load.store(0, Ordering::SeqCst);
        log::warn!(
            "broker worker abandoned {n} jobs at shutdown addr={}",
            self.broker.addr
        );
    }

    /// Starts `job`; an ordered job marks its lane busy until its response is handled.
    fn launch(
        &self,
        job: Job,
        inflight: &mut VecDeque<(PendingResponse, Job)>,
        busy: &mut HashSet<OrderLane>,
    ) {
        let q = ordered_queue(&job);
        if let Some(p) = self.start(job) {
            if let Some(q) = q {
                busy.insert(q);
            }
            inflight.push_back(p);
        }
    }

    /// Sends the job's attempt; `None` when it completed (or moved) at once.
    fn start(&self, mut job: Job) -> Option<(PendingResponse, Job)> {
        let Some(inner) = self.inner.upgrade() else {
            self.done_one();
            job.complete(Err(SendErrorKind::Closed));
            return None;
        };
        let Some((mq, default_topic)) = job.queue.clone() else {
            self.done_one();
            job.complete(Err(SendErrorKind::Closed));
            return None;
        };
        job.attempts += 1;
        job.last_broker = Some(mq.broker_name.clone());
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            self.done_one();
            let kind = job.exhausted();
            job.complete(Err(kind));
            return None;
        }
        if job.prepared.batch && self.broker.no_batch.load(Ordering::Relaxed) {
            self.one_by_one(&inner, job);
            return None;
        }
        let mut cmd = job.prepared.command(&mq, default_topic);
        inner.acl.sign(&mut cmd);
        let timeout = inner.cfg.attempt_timeout.min(remaining);
        match self
            .broker
            .connection(&inner)
            .and_then(|c| c.start_invoke(&cmd, timeout))
        {
            Ok(p) => Some((p, job)),
            Err(e) => {
                // Transport errors carry no code, so they are never retried in place.
                if let Some(job) = self.handle(&inner, job, classify_error(e)) {
                    let _ = inner.dispatch(job, true);
                }
                None
            }
        }
    }

    /// Handles a response; returns the job when it must be retried in place (see `handle`).
    fn finish(
        &self,
        job: Job,
        res: Result<crate::remoting::RemotingCommand, crate::remoting::Error>,
    ) -> Option<Job> {
        let Some(inner) = self.inner.upgrade() else {
            self.done_one();
            let kind = job.exhausted();
            job.complete(Err(kind));
            return None;
        };
        let outcome = match res {
            Ok(resp) => match &job.queue {
                Some((mq, _)) => {
                    classify_response(&resp, &job.prepared, mq, &self.broker.addr, job.attempts)
                }
                None => Outcome::Fail(SendErrorKind::Closed),
            },
            Err(e) => classify_error(e),
        };
        self.handle(&inner, job, outcome)
    }

    /// Completes, moves or keeps a job after an attempt. An ordered (keyed) job that the broker
    /// refused with a retryable code (busy, flow control…) is returned to be retried first in its
    /// own lane, so later jobs of that lane cannot overtake it; other retries go to another broker.
    fn handle(&self, inner: &Arc<Inner>, mut job: Job, outcome: Outcome) -> Option<Job> {
        self.done_one();
        match outcome {
            Outcome::Stored(r) => job.complete(Ok(r)),
            Outcome::Fail(kind) => job.complete(Err(kind)),
            Outcome::BatchUnsupported { code, remark } => {
                inner.stats.batches_refused(&self.broker, code, &remark);
                self.load.fetch_add(1, Ordering::SeqCst);
                self.one_by_one(inner, job);
            }
            Outcome::Retry {
                maybe_stored,
                detail,
                code,
            } => {
                let ordered = job.key_hash.is_some() && code.is_some();
                if inner.note_failure(&mut job, &self.broker, maybe_stored, detail, code) {
                    if ordered {
                        self.load.fetch_add(1, Ordering::SeqCst);
                        return Some(job);
                    }
                    if let Err(e) = inner.dispatch(job, true) {
                        // dispatch with retry=true completes the job itself; an Err cannot happen.
                        log::error!("retry dispatch returned an error: {e}");
                    }
                } else {
                    let kind = job.exhausted();
                    job.complete(Err(kind));
                }
            }
        }
        None
    }

    /// Batch fallback on this worker's thread: members one by one, synchronously.
    fn one_by_one(&self, inner: &Arc<Inner>, mut job: Job) {
        self.done_one();
        let done = job.done.take();
        let res = inner.batch_one_by_one_sync(job);
        if let Some(cb) = done {
            cb(res);
        }
    }

    fn done_one(&self) {
        let _ = self
            .load
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(1))
            });
    }
}

/// (topic, queue id, ordering lane): the jobs that must not overtake one another.
type OrderLane = (String, i32, u32);

/// The ordering lane of a job sent with an ordering key (`None` for unordered jobs).
fn ordered_queue(job: &Job) -> Option<OrderLane> {
    let lane = super::order_lane_of(job.key_hash?, job.lanes);
    job.queue
        .as_ref()
        .map(|(mq, _)| (mq.topic.clone(), mq.queue_id, lane))
}
