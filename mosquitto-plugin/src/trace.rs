//! `plugin_opt_trace_file`: every emitted event as one JSON line, written by a background thread so that
//! mosquitto's thread never does file IO. Bounded: when the writer falls behind, lines are dropped and counted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Sender};

use crate::event::MqttEvent;

/// Capacity of the trace queue, in events.
pub const TRACE_QUEUE_CAP: usize = 65_536;

/// The trace writer handle.
#[derive(Debug)]
pub struct TraceWriter {
    tx: Option<Sender<MqttEvent>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
}

impl TraceWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    ///
    /// # Errors
    /// The file cannot be created, or the thread cannot be spawned.
    pub fn start(path: &Path) -> std::io::Result<TraceWriter> {
        let file = File::create(path)?;
        // Unbounded list channel bounded by a counter (a bounded one preallocates every slot).
        let (tx, rx) = unbounded::<MqttEvent>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = Arc::clone(&queued);
        let thread = std::thread::Builder::new()
            .name("mosq-trace".into())
            .spawn(move || {
                let mut w = BufWriter::new(file);
                while let Ok(ev) = rx.recv() {
                    q.fetch_sub(1, Ordering::Relaxed);
                    let mut ok = writeln!(w, "{}", ev.to_json()).is_ok();
                    // Flush when idle so a reader sees lines promptly.
                    if rx.is_empty() {
                        ok &= w.flush().is_ok();
                    }
                    if !ok {
                        log::warn!("trace file write failed; trace stopped");
                        break;
                    }
                }
                let _ = w.flush();
            })?;
        Ok(TraceWriter {
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            queued,
        })
    }

    /// Non-blocking hand-over.
    pub fn offer(&self, ev: &MqttEvent) {
        if let Some(tx) = &self.tx {
            if self.queued.fetch_add(1, Ordering::Relaxed) >= TRACE_QUEUE_CAP
                || tx.try_send(ev.clone()).is_err()
            {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the thread.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.close_inner();
    }
}
