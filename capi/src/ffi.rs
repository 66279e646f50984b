//! The only module with `unsafe`: the `extern "C"` functions of `include/rocketmq_bridge.h`.
//!
//! Each function checks every pointer it is given for NULL, copies what it needs out of the
//! caller's memory into plain Rust values (through [`crate::abi`]), and runs its body under
//! `catch_unwind`, so that no panic unwinds into C (a caught panic returns `RMQB_ERR_PANIC`, or NULL
//! from the start functions). The handle is a `Box<Handle>` handed out as `*mut rmqb_bridge_t`
//! and taken back (and dropped) only by `rmqb_stop`.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rocketmq_bridge::bridge::{Bridge, BridgeConfig, EventSender, Handover};

use crate::abi::{
    self, EventFields, LogFn, OutcomeFn, RmqbCounters, RmqbEvent, RmqbReport, RmqbTemplateCounters,
};
use crate::logger;

/// The library version, NUL-terminated, for `rmqb_version`.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// `rmqb_bridge_t`: a running bridge and the host's outcome callback.
pub struct Handle {
    bridge: Bridge,
    sender: EventSender,
    outcome: Option<Outcome>,
}

/// The host's outcome callback and its `user` pointer.
#[derive(Clone, Copy)]
struct Outcome {
    f: OutcomeFn,
    /// The host's pointer, kept as an address: the library never dereferences it.
    user: usize,
}

impl Outcome {
    fn call(self, tag: u64, status: i32, detail: &str) {
        let detail = CString::new(detail.replace('\0', " ")).unwrap_or_default();
        // SAFETY: `f` is the host's `rmqb_outcome_fn`, which the header requires to be callable
        // from any thread with the `user` pointer it gave; `detail` is a valid NUL-terminated
        // string that lives until the call returns, and its length excludes the NUL.
        unsafe {
            (self.f)(
                self.user as *mut c_void,
                tag,
                status,
                detail.as_ptr(),
                detail.as_bytes().len(),
            )
        }
    }
}

/// Runs `f`, turning a panic into `on_panic`.
fn guarded<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The caller's error buffer, or `None` when it is NULL or empty.
///
/// # Safety
/// `err`, when not NULL, points to `cap` writable bytes that nothing else accesses during the call.
unsafe fn err_buf<'a>(err: *mut c_char, cap: usize) -> Option<&'a mut [u8]> {
    if err.is_null() || cap == 0 {
        return None;
    }
    // SAFETY: non-NULL, and the caller promises `cap` writable bytes (header: `err_cap` bytes).
    Some(unsafe { std::slice::from_raw_parts_mut(err.cast::<u8>(), cap) })
}

/// Writes `msg` into the caller's error buffer (when there is one).
///
/// # Safety
/// As [`err_buf`].
unsafe fn set_err(err: *mut c_char, cap: usize, msg: &str) {
    // SAFETY: forwarded from the caller.
    if let Some(buf) = unsafe { err_buf(err, cap) } {
        abi::write_text(buf, msg);
    }
}

/// The bytes of `len` at `ptr`, or `None` for NULL.
///
/// # Safety
/// `ptr`, when not NULL, points to `len` readable bytes that stay unchanged during the call.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL and, per the header, `len` readable bytes borrowed for the call.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The fields of the caller's event.
///
/// # Safety
/// Every non-NULL pointer in `ev` points to as many readable bytes as its length says.
unsafe fn fields(ev: &RmqbEvent) -> EventFields<'_> {
    // SAFETY (every call below): the header makes each non-NULL pointer a borrow of `len` bytes
    // for the duration of the call.
    unsafe {
        EventFields {
            kind: ev.kind,
            qos: ev.qos,
            retain: ev.retain,
            reserved: ev.reserved,
            ts_ms: ev.ts_ms,
            client_id: bytes(ev.client_id.ptr.cast(), ev.client_id.len),
            username: bytes(ev.username.ptr.cast(), ev.username.len),
            topic: bytes(ev.topic.ptr.cast(), ev.topic.len),
            from: bytes(ev.from.ptr.cast(), ev.from.len),
            reason: bytes(ev.reason.ptr.cast(), ev.reason.len),
            payload: bytes(ev.payload.ptr, ev.payload.len),
        }
    }
}

/// `rmqb_abi_version`.
#[no_mangle]
pub extern "C" fn rmqb_abi_version() -> u32 {
    (abi::ABI_VERSION_MAJOR << 16) | abi::ABI_VERSION_MINOR
}

/// `rmqb_version`.
#[no_mangle]
pub extern "C" fn rmqb_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// `rmqb_layout`.
#[no_mangle]
pub extern "C" fn rmqb_layout(item: u32) -> usize {
    guarded(0, || abi::layout(item))
}

/// `rmqb_status_name`.
#[no_mangle]
pub extern "C" fn rmqb_status_name(status: i32) -> *const c_char {
    abi::status_name(status).as_ptr().cast()
}

/// `rmqb_set_log_callback`.
#[no_mangle]
pub extern "C" fn rmqb_set_log_callback(
    cb: Option<LogFn>,
    user: *mut c_void,
    max_level: i32,
) -> i32 {
    let user = user as usize;
    guarded(abi::ERR_PANIC, || {
        let Some(level) = logger::level_filter(max_level) else {
            return abi::ERR_INVALID;
        };
        let sink = cb.map(|f| -> logger::Sink {
            Box::new(move |level, target, message| {
                // SAFETY: `f` is the host's `rmqb_log_fn`, callable from any thread with its
                // `user` (header, THREADS); both strings are NUL-terminated and outlive the call.
                unsafe {
                    f(
                        user as *mut c_void,
                        level,
                        target.as_ptr(),
                        target.as_bytes().len(),
                        message.as_ptr(),
                        message.as_bytes().len(),
                    )
                }
            })
        });
        match logger::set(sink, level) {
            Ok(()) => abi::OK,
            Err(logger::LoggerTaken) => abi::ERR_LOGGER,
        }
    })
}

fn start(
    cfg: Result<BridgeConfig, rocketmq_bridge::bridge::ConfigError>,
    outcome: Option<Outcome>,
) -> Result<Box<Handle>, String> {
    let cfg = cfg.map_err(|e| e.to_string())?;
    let bridge = Bridge::start(cfg).map_err(|e| e.to_string())?;
    let sender = bridge.sender();
    Ok(Box::new(Handle {
        bridge,
        sender,
        outcome,
    }))
}

fn into_raw(r: Result<Box<Handle>, String>, err: *mut c_char, err_cap: usize) -> *mut Handle {
    match r {
        Ok(h) => Box::into_raw(h),
        Err(msg) => {
            // SAFETY: `err`/`err_cap` come from the caller as the header defines them.
            unsafe { set_err(err, err_cap, &msg) };
            std::ptr::null_mut()
        }
    }
}

/// `rmqb_start_file`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `err` is NULL or points to `err_cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn rmqb_start_file(
    path: *const c_char,
    on_outcome: Option<OutcomeFn>,
    user: *mut c_void,
    err: *mut c_char,
    err_cap: usize,
) -> *mut Handle {
    let user = user as usize;
    guarded(std::ptr::null_mut(), || {
        if path.is_null() {
            // SAFETY: the caller's error buffer, as documented.
            unsafe { set_err(err, err_cap, "path is NULL") };
            return std::ptr::null_mut();
        }
        // SAFETY: non-NULL and NUL-terminated (the caller's promise).
        let path = unsafe { CStr::from_ptr(path) };
        let r = match path.to_str() {
            Ok(p) => start(
                BridgeConfig::load(p),
                on_outcome.map(|f| Outcome { f, user }),
            ),
            Err(_) => Err("path is not UTF-8".to_owned()),
        };
        into_raw(r, err, err_cap)
    })
}

/// `rmqb_start_text`.
///
/// # Safety
/// `text` is NULL or points to `len` readable bytes; `err` as in [`rmqb_start_file`].
#[no_mangle]
pub unsafe extern "C" fn rmqb_start_text(
    text: *const c_char,
    len: usize,
    on_outcome: Option<OutcomeFn>,
    user: *mut c_void,
    err: *mut c_char,
    err_cap: usize,
) -> *mut Handle {
    let user = user as usize;
    guarded(std::ptr::null_mut(), || {
        // SAFETY: NULL or `len` readable bytes (the caller's promise).
        let r = match unsafe { bytes(text.cast(), len) }.map(std::str::from_utf8) {
            None => Err("text is NULL".to_owned()),
            Some(Err(_)) => Err("config text is not UTF-8".to_owned()),
            Some(Ok(t)) => start(
                BridgeConfig::parse(t, "<text>"),
                on_outcome.map(|f| Outcome { f, user }),
            ),
        };
        into_raw(r, err, err_cap)
    })
}

/// The handle and the event, or the error text.
///
/// # Safety
/// `bridge` is NULL or a live handle; `event` is NULL or a valid `rmqb_event_t` whose pointers
/// borrow their lengths in bytes.
unsafe fn handle_and_event<'a>(
    bridge: *const Handle,
    event: *const RmqbEvent,
) -> Result<(&'a Handle, rocketmq_bridge::bridge::Event), String> {
    if bridge.is_null() {
        return Err("bridge is NULL".to_owned());
    }
    if event.is_null() {
        return Err("event is NULL".to_owned());
    }
    // SAFETY: non-NULL; a live handle from a start function (header: not after rmqb_stop) and a
    // valid event struct the caller owns for the call.
    let (h, ev) = unsafe { (&*bridge, &*event) };
    // SAFETY: the event's pointers borrow their lengths (the caller's promise).
    let ev = unsafe { fields(ev) }
        .to_event()
        .map_err(|e| e.to_string())?;
    Ok((h, ev))
}

/// `rmqb_send`.
///
/// # Safety
/// `bridge` is NULL or a live handle; `event` is NULL or a valid event; `err` as in
/// [`rmqb_start_file`].
#[no_mangle]
pub unsafe extern "C" fn rmqb_send(
    bridge: *mut Handle,
    event: *const RmqbEvent,
    err: *mut c_char,
    err_cap: usize,
) -> i32 {
    guarded(abi::ERR_PANIC, || {
        // SAFETY: forwarded from the caller.
        let (h, ev) = match unsafe { handle_and_event(bridge, event) } {
            Ok(x) => x,
            Err(msg) => {
                // SAFETY: the caller's error buffer.
                unsafe { set_err(err, err_cap, &msg) };
                return abi::ERR_INVALID;
            }
        };
        match h.sender.send(ev) {
            Ok(()) => abi::OK,
            Err(e) => {
                // SAFETY: the caller's error buffer.
                unsafe { set_err(err, err_cap, &e.to_string()) };
                abi::send_status(&e)
            }
        }
    })
}

/// `rmqb_send_async`.
///
/// # Safety
/// As [`rmqb_send`].
#[no_mangle]
pub unsafe extern "C" fn rmqb_send_async(
    bridge: *mut Handle,
    event: *const RmqbEvent,
    tag: u64,
) -> i32 {
    guarded(abi::ERR_PANIC, || {
        // SAFETY: forwarded from the caller.
        let Ok((h, ev)) = (unsafe { handle_and_event(bridge, event) }) else {
            return abi::ERR_INVALID;
        };
        let outcome = h.outcome;
        let then = move |r: Result<(), rocketmq_bridge::bridge::SendEventError>| {
            let Some(o) = outcome else { return };
            // On a bridge thread: a panic here must not take that thread down either.
            let _ = catch_unwind(AssertUnwindSafe(|| match r {
                Ok(()) => o.call(tag, abi::OK, ""),
                Err(e) => o.call(tag, abi::send_status(&e), &e.to_string()),
            }));
        };
        match h.sender.send_then(ev, then) {
            Handover::Pending => abi::PENDING,
            Handover::Done(Ok(())) => abi::OK,
            Handover::Done(Err(e)) => abi::send_status(&e),
            // A kind a later library version adds: its outcome is not known here.
            _ => abi::ERR_FAILED,
        }
    })
}

/// `rmqb_stats`.
///
/// # Safety
/// `bridge` is NULL or a live handle; `out` is NULL or points to a writable `rmqb_counters_t`.
#[no_mangle]
pub unsafe extern "C" fn rmqb_stats(bridge: *const Handle, out: *mut RmqbCounters) -> i32 {
    guarded(abi::ERR_PANIC, || {
        if bridge.is_null() || out.is_null() {
            return abi::ERR_INVALID;
        }
        // SAFETY: non-NULL and live (the caller's promise).
        let h = unsafe { &*bridge };
        let c = abi::counters(&h.bridge.stats());
        // SAFETY: non-NULL and writable; `write` does not read the old (maybe uninitialised) value.
        unsafe { out.write(c) };
        abi::OK
    })
}

/// `rmqb_stats_templates` (ABI 1.1).
///
/// # Safety
/// `bridge` is NULL or a live handle; `out` is NULL or points to a writable
/// `rmqb_template_counters_t`.
#[no_mangle]
pub unsafe extern "C" fn rmqb_stats_templates(
    bridge: *const Handle,
    out: *mut RmqbTemplateCounters,
) -> i32 {
    guarded(abi::ERR_PANIC, || {
        if bridge.is_null() || out.is_null() {
            return abi::ERR_INVALID;
        }
        // SAFETY: non-NULL and live (the caller's promise).
        let h = unsafe { &*bridge };
        let c = abi::template_counters(&h.bridge.stats());
        // SAFETY: non-NULL and writable; `write` does not read the old (maybe uninitialised) value.
        unsafe { out.write(c) };
        abi::OK
    })
}

fn reload(
    h: &Handle,
    cfg: Result<BridgeConfig, rocketmq_bridge::bridge::ConfigError>,
) -> (i32, String) {
    match cfg {
        Err(e) => (abi::config_status(&e), e.to_string()),
        Ok(cfg) => match h.bridge.reload(cfg) {
            Ok(()) => (abi::OK, String::new()),
            Err(e) => (abi::bridge_status(&e), e.to_string()),
        },
    }
}

/// `rmqb_reload_file`.
///
/// # Safety
/// `bridge` is NULL or a live handle; `path` and `err` as in [`rmqb_start_file`].
#[no_mangle]
pub unsafe extern "C" fn rmqb_reload_file(
    bridge: *mut Handle,
    path: *const c_char,
    err: *mut c_char,
    err_cap: usize,
) -> i32 {
    guarded(abi::ERR_PANIC, || {
        let (status, msg) = if bridge.is_null() || path.is_null() {
            (abi::ERR_INVALID, "bridge or path is NULL".to_owned())
        } else {
            // SAFETY: non-NULL: a live handle and a NUL-terminated string (the caller's promise).
            let (h, path) = unsafe { (&*bridge, CStr::from_ptr(path)) };
            match path.to_str() {
                Ok(p) => reload(h, BridgeConfig::load(p)),
                Err(_) => (abi::ERR_INVALID, "path is not UTF-8".to_owned()),
            }
        };
        if status != abi::OK {
            // SAFETY: the caller's error buffer.
            unsafe { set_err(err, err_cap, &msg) };
        }
        status
    })
}

/// `rmqb_reload_text`.
///
/// # Safety
/// `bridge` is NULL or a live handle; `text` as in [`rmqb_start_text`]; `err` as in
/// [`rmqb_start_file`].
#[no_mangle]
pub unsafe extern "C" fn rmqb_reload_text(
    bridge: *mut Handle,
    text: *const c_char,
    len: usize,
    err: *mut c_char,
    err_cap: usize,
) -> i32 {
    guarded(abi::ERR_PANIC, || {
        // SAFETY: NULL or `len` readable bytes (the caller's promise).
        let text = unsafe { bytes(text.cast(), len) };
        let (status, msg) = match (bridge.is_null(), text.map(std::str::from_utf8)) {
            (true, _) | (_, None) => (abi::ERR_INVALID, "bridge or text is NULL".to_owned()),
            (false, Some(Err(_))) => (abi::ERR_INVALID, "config text is not UTF-8".to_owned()),
            (false, Some(Ok(t))) => {
                // SAFETY: non-NULL and live (the caller's promise).
                let h = unsafe { &*bridge };
                reload(h, BridgeConfig::parse(t, "<text>"))
            }
        };
        if status != abi::OK {
            // SAFETY: the caller's error buffer.
            unsafe { set_err(err, err_cap, &msg) };
        }
        status
    })
}

/// `rmqb_stop`.
///
/// # Safety
/// `bridge` is NULL or a live handle that no other call uses now or later; `report` is NULL or
/// points to a writable `rmqb_report_t`; `text` is NULL or points to `text_cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn rmqb_stop(
    bridge: *mut Handle,
    deadline_ms: u64,
    report: *mut RmqbReport,
    text: *mut c_char,
    text_cap: usize,
) -> i32 {
    if bridge.is_null() {
        return abi::ERR_INVALID;
    }
    // SAFETY: a handle from `Box::into_raw` in a start function, given back exactly once (the
    // header forbids any use after rmqb_stop). Taken before the guard, so that it is freed even
    // when the shutdown panics.
    let h = unsafe { Box::from_raw(bridge) };
    guarded(abi::ERR_PANIC, move || {
        let Handle { bridge, sender, .. } = *h;
        drop(sender);
        let r = bridge.shutdown(Duration::from_millis(deadline_ms));
        if !report.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { report.write(abi::report(&r)) };
        }
        // SAFETY: NULL or `text_cap` writable bytes (the caller's promise).
        if let Some(buf) = unsafe { err_buf(text, text_cap) } {
            abi::write_text(buf, &r.to_string());
        }
        if r.drained && r.unsent.is_empty() {
            abi::OK
        } else {
            abi::ERR_INCOMPLETE
        }
    })
}
