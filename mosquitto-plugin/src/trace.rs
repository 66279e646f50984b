//! `plugin_opt_trace_file`: every emitted event as one JSON line, written by a background thread so that
//! mosquitto's thread never does file IO. Bounded: when the writer falls behind, lines are dropped and counted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender, TrySendError};

use crate::event::MqttEvent;

/// Capacity of the trace queue, in events.
pub const TRACE_QUEUE_CAP: usize = 65_536;

/// The trace writer handle.
#[derive(Debug)]
pub struct TraceWriter {
    tx: Option<Sender<MqttEvent>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl TraceWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    ///
    /// # Errors
    /// The file cannot be created, or the thread cannot be spawned.
    pub fn start(path: &Path) -> std::io::Result<TraceWriter> {
        let file = File::create(path)?;
        let (tx, rx) = bounded::<MqttEvent>(TRACE_QUEUE_CAP);
        let thread = std::thread::Builder::new()
            .name("mosq-trace".into())
            .spawn(move || {
                let mut w = BufWriter::new(file);
                while let Ok(ev) = rx.recv() {
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
        })
    }

    /// Non-blocking hand-over.
    pub fn offer(&self, ev: &MqttEvent) {
        if let Some(tx) = &self.tx {
            match tx.try_send(ev.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
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
