//! `plugin_opt_trace_file`: every emitted event as one JSON line, written by a background thread so that
//! mosquitto's thread never does file IO. Bounded: when the writer falls behind, lines are dropped and counted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Sender};

use rocketmq_bridge::bridge::Event;
use rocketmq_bridge::util::worker::Worker;

/// Capacity of the trace queue, in events.
pub const TRACE_QUEUE_CAP: usize = 65_536;
/// Capacity of the trace queue, in bytes (the events' heap size: topic, payload, ids): 64 MiB. Without it
/// [`TRACE_QUEUE_CAP`] events of large payloads (mosquitto accepts up to 256 MB each by default) could
/// pile up behind a slow disk. Over it, lines are dropped and counted like a full queue.
pub const TRACE_QUEUE_MAX_BYTES: usize = 64 << 20;

/// The trace writer handle.
#[derive(Debug)]
pub struct TraceWriter {
    tx: Option<Sender<Event>>,
    /// The writer thread; it ends when `tx` is dropped (after writing what is queued).
    thread: Option<Worker>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicUsize>,
}

impl TraceWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    ///
    /// # Errors
    /// The file cannot be created, or the thread cannot be spawned.
    pub fn start(path: &Path) -> std::io::Result<TraceWriter> {
        let file = File::create(path)?;
        // Unbounded list channel bounded by a counter (a bounded one preallocates every slot).
        let (tx, rx) = unbounded::<Event>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = Arc::clone(&queued);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let qb = Arc::clone(&queued_bytes);
        let thread = Worker::spawn("mosq-trace", move |_stop| {
            let mut w = BufWriter::new(file);
            while let Ok(ev) = rx.recv() {
                q.fetch_sub(1, Ordering::Relaxed);
                qb.fetch_sub(ev.heap_size(), Ordering::Relaxed);
                let mut ok = writeln!(w, "{}", to_json(&ev)).is_ok();
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
            queued_bytes,
        })
    }

    /// Non-blocking hand-over.
    pub fn offer(&self, ev: &Event) {
        if let Some(tx) = &self.tx {
            let size = ev.heap_size();
            let bytes = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
            if self.queued.fetch_add(1, Ordering::Relaxed) >= TRACE_QUEUE_CAP
                || bytes + size > TRACE_QUEUE_MAX_BYTES
                || tx.try_send(ev.clone()).is_err()
            {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
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
            t.join();
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.close_inner();
    }
}

/// The event as one JSON object (payload as base64 under `payload_base64`, the bridge's input-line
/// spelling; fields the host could not supply are `null`).
pub fn to_json(ev: &Event) -> serde_json::Value {
    use serde_json::{json, Value};
    let opt = |s: &Option<String>| s.as_ref().map_or(Value::Null, |v| json!(v));
    json!({
        "event": ev.kind.hook_name(),
        "client_id": opt(&ev.client_id),
        "username": opt(&ev.username),
        "topic": opt(&ev.topic),
        "payload_base64": ev.payload.as_ref().map_or(Value::Null, |p| json!(STANDARD.encode(p))),
        "qos": ev.qos.map_or(Value::Null, |q| json!(q)),
        "retain": ev.retain.map_or(Value::Null, |r| json!(r)),
        "from": opt(&ev.from),
        "ts": ev.ts.map_or(Value::Null, |t| json!(t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketmq_bridge::bridge::EventKind;

    #[test]
    fn json_keeps_unknown_fields_null() {
        let mut e = Event::new(EventKind::ClientDisconnected).with_ts(5);
        e.client_id = Some("c1".into());
        let v = to_json(&e);
        assert_eq!(v["event"], "client.disconnected");
        assert_eq!(v["client_id"], "c1");
        assert!(v["username"].is_null());
        assert!(v["from"].is_null());
        assert_eq!(v["ts"], 5);
    }

    #[test]
    fn queue_is_bounded_in_bytes_too() {
        let dir = std::env::temp_dir().join(format!("mosq-trace-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        let t = TraceWriter::start(&path).unwrap();
        let mut big = Event::new(EventKind::MessagePublish).with_ts(1);
        big.payload = Some(bytes::Bytes::from(vec![0u8; TRACE_QUEUE_MAX_BYTES + 1]));
        t.offer(&big);
        let mut small = Event::new(EventKind::MessagePublish).with_ts(2);
        small.payload = Some(bytes::Bytes::from_static(b"ok"));
        t.offer(&small);
        assert_eq!(t.dropped(), 1);
        t.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "only the small event is written");
        assert!(text.contains("\"ts\":2"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
