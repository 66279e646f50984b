//! The only module with `unsafe`: the mosquitto 2.0 plugin interface (version 5).
//!
//! Declarations are written by hand from mosquitto 2.0.11's `mosquitto_broker.h`, `mosquitto_plugin.h` and
//! `mosquitto.h` (no bindgen, no C build step). The broker's own functions (`mosquitto_callback_register`,
//! `mosquitto_log_printf`, `mosquitto_client_id`, ...) live in the `mosquitto` executable, which exports them
//! to plugins; they are looked up with `dlsym(RTLD_DEFAULT, ..)` at load, so this crate has no undefined
//! symbols and its tests link without the broker.
//!
//! # Learning ACL decisions
//! 2.0.11 calls plugins *before* `acl_file` and any later plugin, and gives no "decided" event. With
//! `plugin_opt_acl decided_elsewhere`, the `ACL_CHECK` callback therefore asks mosquitto itself: it calls the
//! broker's `mosquitto_acl_check` (exported by Debian's CMake build of 2.0.11; prototype from
//! `src/mosquitto_broker_internal.h`) with the same arguments while a re-entrancy flag makes this plugin's
//! own callback answer "defer" inside that nested call. The nested call runs every other ACL callback, the
//! legacy auth plugins and the final "all deferred means denied" rule, so its result is exactly mosquitto's
//! decision without this plugin; the plugin returns that result unchanged (mosquitto then stops walking its
//! list) and records it as the outcome. If the symbol is absent, the plugin answers "defer" and emits no
//! subscribe, unsubscribe or delivery events (logged at start).
//!
//! Every callback copies what it needs out of mosquitto's structs into plain Rust values before calling
//! [`Plugin`], and runs under `catch_unwind`: a panic answers the option-derived default and never unwinds
//! into C.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::logger;
use crate::options::{Decider, PluginOptions};
use crate::plugin::Plugin;
use crate::tracker::{Access, AclCheck, Answer, ClientInfo, ClientView, Message, Outcome, Tracker};

// ---- mosquitto.h: error codes and log levels --------------------------------------------------------
const MOSQ_ERR_SUCCESS: c_int = 0;
const MOSQ_ERR_INVAL: c_int = 3;
const MOSQ_ERR_UNKNOWN: c_int = 13;
const MOSQ_ERR_PLUGIN_DEFER: c_int = 17;
const MOSQ_LOG_INFO: c_int = 1 << 0;
const MOSQ_LOG_NOTICE: c_int = 1 << 1;
const MOSQ_LOG_WARNING: c_int = 1 << 2;
const MOSQ_LOG_ERR: c_int = 1 << 3;
const MOSQ_LOG_DEBUG: c_int = 1 << 4;

// ---- mosquitto_broker.h: enum mosquitto_plugin_event -------------------------------------------------
const MOSQ_EVT_RELOAD: c_int = 1;
const MOSQ_EVT_ACL_CHECK: c_int = 2;
const MOSQ_EVT_BASIC_AUTH: c_int = 3;
const MOSQ_EVT_MESSAGE: c_int = 7;
const MOSQ_EVT_TICK: c_int = 9;
const MOSQ_EVT_DISCONNECT: c_int = 10;

/// The plugin interface version implemented (`mosquitto_plugin_version`).
pub const MOSQ_PLUGIN_VERSION: c_int = 5;

/// `struct mosquitto_opt` (mosquitto_plugin.h).
#[repr(C)]
pub struct MosquittoOpt {
    key: *mut c_char,
    value: *mut c_char,
}

/// `struct mosquitto` (opaque).
#[repr(C)]
pub struct Mosquitto {
    _opaque: [u8; 0],
}

/// `mosquitto_plugin_id_t` (opaque).
#[repr(C)]
pub struct PluginId {
    _opaque: [u8; 0],
}

/// `struct mosquitto_evt_acl_check`.
#[repr(C)]
struct EvtAclCheck {
    future: *mut c_void,
    client: *mut Mosquitto,
    topic: *const c_char,
    payload: *const c_void,
    properties: *mut c_void,
    access: c_int,
    payloadlen: u32,
    qos: u8,
    retain: bool,
    future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_basic_auth`.
#[repr(C)]
struct EvtBasicAuth {
    future: *mut c_void,
    client: *mut Mosquitto,
    username: *mut c_char,
    password: *mut c_char,
    future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_message`.
#[repr(C)]
struct EvtMessage {
    future: *mut c_void,
    client: *mut Mosquitto,
    topic: *mut c_char,
    payload: *mut c_void,
    properties: *mut c_void,
    reason_string: *mut c_char,
    payloadlen: u32,
    qos: u8,
    reason_code: u8,
    retain: bool,
    future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_disconnect`.
#[repr(C)]
struct EvtDisconnect {
    future: *mut c_void,
    client: *mut Mosquitto,
    reason: c_int,
    future2: [*mut c_void; 4],
}

/// `MOSQ_FUNC_generic_callback`.
type GenericCallback = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;
type RegisterFn = unsafe extern "C" fn(
    *mut PluginId,
    c_int,
    Option<GenericCallback>,
    *const c_void,
    *mut c_void,
) -> c_int;
type UnregisterFn =
    unsafe extern "C" fn(*mut PluginId, c_int, Option<GenericCallback>, *const c_void) -> c_int;
type LogPrintfFn = unsafe extern "C" fn(c_int, *const c_char, ...);
type ClientStrFn = unsafe extern "C" fn(*const Mosquitto) -> *const c_char;
type ClientBoolFn = unsafe extern "C" fn(*const Mosquitto) -> bool;
type ClientIntFn = unsafe extern "C" fn(*const Mosquitto) -> c_int;
/// `int mosquitto_acl_check(struct mosquitto *context, const char *topic, uint32_t payloadlen,
/// void* payload, uint8_t qos, bool retain, int access)` (2.0.11 `src/mosquitto_broker_internal.h`).
type AclCheckFn =
    unsafe extern "C" fn(*mut Mosquitto, *const c_char, u32, *mut c_void, u8, bool, c_int) -> c_int;

/// The broker functions the plugin calls, resolved from the running `mosquitto` executable.
#[derive(Clone, Copy)]
struct Api {
    register: RegisterFn,
    unregister: UnregisterFn,
    log_printf: LogPrintfFn,
    client_id: ClientStrFn,
    client_username: ClientStrFn,
    client_clean_session: ClientBoolFn,
    /// `mosquitto_client_sub_count` (in 2.0.11's `mosquitto_broker.h`; optional so that a build without
    /// it still loads: sessions are then not checked on reconnect, see [`crate::tracker`]).
    client_sub_count: Option<ClientIntFn>,
    acl_check: Option<AclCheckFn>,
}

fn resolve(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded symbol tables.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

impl Api {
    fn load() -> Option<Api> {
        let register = resolve(c"mosquitto_callback_register")?;
        let unregister = resolve(c"mosquitto_callback_unregister")?;
        let log_printf = resolve(c"mosquitto_log_printf")?;
        let client_id = resolve(c"mosquitto_client_id")?;
        let client_username = resolve(c"mosquitto_client_username")?;
        let client_clean_session = resolve(c"mosquitto_client_clean_session")?;
        let client_sub_count = resolve(c"mosquitto_client_sub_count");
        let acl_check = resolve(c"mosquitto_acl_check");
        // SAFETY: each symbol is the mosquitto 2.0 function of that name, whose C prototype (from
        // mosquitto_broker.h) is exactly the function-pointer type it is transmuted to.
        unsafe {
            Some(Api {
                register: std::mem::transmute::<*mut c_void, RegisterFn>(register),
                unregister: std::mem::transmute::<*mut c_void, UnregisterFn>(unregister),
                log_printf: std::mem::transmute::<*mut c_void, LogPrintfFn>(log_printf),
                client_id: std::mem::transmute::<*mut c_void, ClientStrFn>(client_id),
                client_username: std::mem::transmute::<*mut c_void, ClientStrFn>(client_username),
                client_clean_session: std::mem::transmute::<*mut c_void, ClientBoolFn>(
                    client_clean_session,
                ),
                client_sub_count: client_sub_count
                    .map(|p| std::mem::transmute::<*mut c_void, ClientIntFn>(p)),
                acl_check: acl_check.map(|p| std::mem::transmute::<*mut c_void, AclCheckFn>(p)),
            })
        }
    }

    fn log(&self, level: c_int, text: &str) {
        let c = CString::new(text.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: "%s" with one valid NUL-terminated string matches the variadic arguments; called on
        // mosquitto's thread only (init, callbacks, cleanup).
        unsafe { (self.log_printf)(level, c"%s".as_ptr(), c.as_ptr()) };
    }

    /// The facts a check or a message needs, borrowed: nothing is copied unless an event is built.
    ///
    /// # Safety
    /// `client` is NULL or the live context mosquitto passed to the current callback, which `'a` does not
    /// outlive.
    unsafe fn client_strs<'a>(&self, client: *const Mosquitto) -> ClientStrs<'a> {
        if client.is_null() {
            return ClientStrs {
                id: None,
                username: None,
                sub_count: None,
            };
        }
        // SAFETY: per the function contract; the accessors return NULL or a NUL-terminated string owned
        // by that context, which lives for the callback.
        unsafe {
            ClientStrs {
                id: opt_str((self.client_id)(client)),
                username: opt_str((self.client_username)(client)),
                sub_count: self.sub_count(client),
            }
        }
    }

    /// `mosquitto_client_sub_count`, when the broker exports it.
    ///
    /// # Safety
    /// `client` is NULL or the live context mosquitto passed to the current callback.
    unsafe fn sub_count(&self, client: *const Mosquitto) -> Option<u32> {
        if client.is_null() {
            return None;
        }
        self.client_sub_count
            // SAFETY: per the function contract.
            .and_then(|f| u32::try_from(unsafe { f(client) }).ok())
    }

    fn client_info(&self, client: *const Mosquitto) -> ClientInfo {
        if client.is_null() {
            return ClientInfo::default();
        }
        // SAFETY: `client` is the live context mosquitto passed to the current callback; the accessors
        // return NULL or a NUL-terminated string owned by that context, copied before returning.
        unsafe {
            ClientInfo {
                id: opt_string((self.client_id)(client)),
                username: opt_string((self.client_username)(client)),
                clean: (self.client_clean_session)(client),
                sub_count: self
                    .client_sub_count
                    .and_then(|f| u32::try_from(f(client)).ok()),
            }
        }
    }
}

/// Copies a C string (NULL → `None`; invalid UTF-8 replaced).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn opt_string(p: *const c_char) -> Option<String> {
    // SAFETY: per the function contract.
    unsafe { opt_str(p) }.map(Cow::into_owned)
}

/// Borrows a C string (NULL → `None`); only invalid UTF-8 is copied (replaced). Valid UTF-8 is checked
/// with `str::from_utf8`, about ten times cheaper than `to_string_lossy`'s chunk iterator for the short
/// ids and topics of every check (issue 22's profile: 380 instructions a string).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for `'a`.
unsafe fn opt_str<'a>(p: *const c_char) -> Option<Cow<'a, str>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the function contract.
    let b = unsafe { CStr::from_ptr(p) }.to_bytes();
    Some(match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    })
}

/// A client's id and username read in place for one check or message (see [`Api::client_strs`]).
struct ClientStrs<'a> {
    id: Option<Cow<'a, str>>,
    username: Option<Cow<'a, str>>,
    sub_count: Option<u32>,
}

impl ClientStrs<'_> {
    /// No strings, only the subscription count (for checks whose strings the tracker does not use).
    fn counts_only(sub_count: Option<u32>) -> ClientStrs<'static> {
        ClientStrs {
            id: None,
            username: None,
            sub_count,
        }
    }

    fn view(&self) -> ClientView<'_> {
        ClientView {
            id: self.id.as_deref(),
            username: self.username.as_deref(),
            sub_count: self.sub_count,
        }
    }
}

/// Borrows `len` bytes at `p` (NULL or zero length → empty).
///
/// # Safety
/// `p` is NULL or valid for `len` bytes for the lifetime `'a`.
unsafe fn bytes<'a>(p: *const c_void, len: u32) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: per the function contract.
        unsafe { std::slice::from_raw_parts(p as *const u8, len as usize) }
    }
}

/// Makes this shared library stay loaded until the process exits (`dlopen` of itself with
/// `RTLD_NODELETE`), so that a thread left running after cleanup never executes unmapped code when
/// mosquitto `dlclose`s the plugin. Best effort: a failure is logged.
fn pin_library() {
    // SAFETY: `Dl_info` is plain data; zeroed is a valid value for dladdr to fill.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = mosquitto_plugin_version as *const c_void;
    // SAFETY: dladdr only reads the loader's tables for an address inside this library.
    let found = unsafe { libc::dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null();
    let handle = if found {
        // SAFETY: dli_fname is the NUL-terminated path of this already-loaded library; RTLD_NOLOAD only
        // takes a reference to it (no code runs), RTLD_NODELETE makes every dlclose keep it mapped.
        unsafe {
            libc::dlopen(
                info.dli_fname,
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            )
        }
    } else {
        std::ptr::null_mut()
    };
    if handle.is_null() {
        log::warn!("could not pin the plugin library in memory; mosquitto may crash at exit");
    }
}

/// Everything the callbacks need, owned by mosquitto as the plugin's `userdata` between init and cleanup.
struct Host {
    id: *mut PluginId,
    api: Api,
    plugin: Plugin,
    /// The message tail callback must be (re)placed at the end of mosquitto's list (after load and reload).
    tails_due: AtomicBool,
    /// Set while this plugin asks mosquitto for an ACL decision; its own ACL callback then defers.
    nested: AtomicBool,
}

impl Host {
    fn register(&self, event: c_int, cb: GenericCallback) -> c_int {
        // SAFETY: `id` is the identifier mosquitto gave to init; `self` (userdata) outlives the
        // registration because cleanup unregisters before freeing it.
        unsafe {
            (self.api.register)(
                self.id,
                event,
                Some(cb),
                std::ptr::null(),
                self as *const Host as *mut c_void,
            )
        }
    }

    fn unregister(&self, event: c_int, cb: GenericCallback) {
        // SAFETY: same identifier and function as registered; NOT_FOUND is harmless.
        unsafe { (self.api.unregister)(self.id, event, Some(cb), std::ptr::null()) };
    }

    /// Moves the message tail callback to the end of the `MESSAGE` list. Called only from the
    /// `BASIC_AUTH`, `DISCONNECT` and `TICK` callbacks, never while mosquitto walks that list.
    fn place_tails(&self) {
        if !self.tails_due.swap(false, Ordering::Relaxed) {
            return;
        }
        self.unregister(MOSQ_EVT_MESSAGE, cb_message_tail);
        let ok = self.register(MOSQ_EVT_MESSAGE, cb_message_tail) == MOSQ_ERR_SUCCESS;
        if !ok {
            log::error!("could not register the message tail callback; publishes stay unverified (no events)");
        }
        self.plugin.set_tail_ready(ok);
    }

    fn flush_logs(&self) {
        let (lines, dropped) = logger::take();
        for l in lines {
            let level = match l.level {
                log::Level::Error => MOSQ_LOG_ERR,
                log::Level::Warn => MOSQ_LOG_WARNING,
                log::Level::Info => MOSQ_LOG_NOTICE,
                log::Level::Debug | log::Level::Trace => MOSQ_LOG_DEBUG,
            };
            self.api.log(level, &l.text);
        }
        if dropped > 0 {
            self.api.log(
                MOSQ_LOG_WARNING,
                &format!("rocketmq-bridge: {dropped} log lines dropped (log queue full)"),
            );
        }
    }
}

/// # Safety
/// `userdata` is the `Host` registered with the callback.
unsafe fn host<'a>(userdata: *mut c_void) -> &'a Host {
    // SAFETY: per the function contract; mosquitto hands back the pointer given at registration, and the
    // Host is only freed in cleanup after every callback is unregistered.
    unsafe { &*(userdata as *const Host) }
}

fn answer(a: Answer) -> c_int {
    match a {
        Answer::Success => MOSQ_ERR_SUCCESS,
        Answer::Defer => MOSQ_ERR_PLUGIN_DEFER,
    }
}

fn guarded(fallback: c_int, f: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe extern "C" fn cb_basic_auth(_ev: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    let fallback = answer(Tracker::static_login_answer(h.plugin.options().logins));
    guarded(fallback, || {
        h.place_tails();
        // SAFETY: for MOSQ_EVT_BASIC_AUTH, `data` points to a live `struct mosquitto_evt_basic_auth`.
        let ev = unsafe { &*(data as *const EvtBasicAuth) };
        let info = h.api.client_info(ev.client);
        answer(h.plugin.basic_auth(ev.client as usize, info))
    })
}

unsafe extern "C" fn cb_acl_check(_ev: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    if h.nested.load(Ordering::Relaxed) {
        // Inside our own nested mosquitto_acl_check: let everything else decide.
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    let acl = h.plugin.options().acl;
    let fallback = answer(Tracker::static_acl_answer(acl));
    guarded(fallback, || {
        // SAFETY: for MOSQ_EVT_ACL_CHECK, `data` points to a live `struct mosquitto_evt_acl_check` whose
        // topic is NUL-terminated and whose payload holds `payloadlen` bytes for the callback's duration.
        let ev = unsafe { &*(data as *const EvtAclCheck) };
        let (rc, outcome) = match (acl, h.api.acl_check) {
            (Decider::OpenBroker, _) => (MOSQ_ERR_SUCCESS, Outcome::Allowed),
            (Decider::Elsewhere, Some(f)) => {
                h.nested.store(true, Ordering::Relaxed);
                // SAFETY: same live context and arguments mosquitto passed to this check; the function
                // has the 2.0.11 prototype above; our callback defers while `nested` is set, so the call
                // cannot recurse further through this plugin.
                let rc = unsafe {
                    f(
                        ev.client,
                        ev.topic,
                        ev.payloadlen,
                        ev.payload as *mut c_void,
                        ev.qos,
                        ev.retain,
                        ev.access,
                    )
                };
                h.nested.store(false, Ordering::Relaxed);
                let o = if rc == MOSQ_ERR_SUCCESS {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                };
                (rc, o)
            }
            (Decider::Elsewhere, None) => (MOSQ_ERR_PLUGIN_DEFER, Outcome::Unknown),
        };
        let access = Access::from_raw(ev.access);
        // A write check (one per publish) never becomes an event: its strings are not read.
        let (topic, client) = if Tracker::uses_check_strings(access) {
            // SAFETY: as above, the topic is valid for the callback's duration; `ev.client` is the live
            // context of this callback, and the strings are used only in it.
            unsafe {
                (
                    opt_str(ev.topic).unwrap_or_default(),
                    h.api.client_strs(ev.client),
                )
            }
        } else {
            // SAFETY: as above.
            let sub_count = unsafe { h.api.sub_count(ev.client) };
            (Cow::Borrowed(""), ClientStrs::counts_only(sub_count))
        };
        // SAFETY: as above.
        let payload = unsafe { bytes(ev.payload, ev.payloadlen) };
        let check = AclCheck {
            client: ev.client as usize,
            info: client.view(),
            access,
            topic: &topic,
            payload,
            payload_addr: ev.payload as usize,
            qos: ev.qos,
            retain: ev.retain,
        };
        log::trace!(
            "acl check client={} access={} topic_len={} rc={rc}",
            check.info.id.unwrap_or("<null>"),
            ev.access,
            check.topic.len()
        );
        h.plugin.acl_check(&check, outcome);
        rc
    })
}

unsafe extern "C" fn cb_message(_ev: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    guarded(MOSQ_ERR_SUCCESS, || {
        // SAFETY: for MOSQ_EVT_MESSAGE, `data` points to a live `struct mosquitto_evt_message` with a
        // NUL-terminated topic and `payloadlen` payload bytes, valid for the callback's duration.
        let ev = unsafe { &*(data as *const EvtMessage) };
        // SAFETY: the topic is NUL-terminated and valid for the callback (see above).
        let topic = unsafe { opt_str(ev.topic) }.unwrap_or_default();
        // SAFETY: `payloadlen` bytes at `payload` are valid for the callback (see above).
        let payload = unsafe { bytes(ev.payload, ev.payloadlen) };
        // SAFETY: `ev.client` is the live context of this callback; the strings are used only in it.
        let client = unsafe { h.api.client_strs(ev.client) };
        let msg = Message {
            client: ev.client as usize,
            info: client.view(),
            topic: &topic,
            payload,
            payload_addr: ev.payload as usize,
            qos: ev.qos,
            retain: ev.retain,
        };
        h.plugin.message(&msg);
        MOSQ_ERR_SUCCESS
    })
}

unsafe extern "C" fn cb_message_tail(_ev: c_int, _d: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    guarded(MOSQ_ERR_SUCCESS, || {
        h.plugin.message_tail();
        MOSQ_ERR_SUCCESS
    })
}

unsafe extern "C" fn cb_disconnect(_ev: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    guarded(MOSQ_ERR_SUCCESS, || {
        h.place_tails();
        // SAFETY: for MOSQ_EVT_DISCONNECT, `data` points to a live `struct mosquitto_evt_disconnect`.
        let ev = unsafe { &*(data as *const EvtDisconnect) };
        let info = h.api.client_info(ev.client);
        h.plugin.disconnect(ev.client as usize, info);
        MOSQ_ERR_SUCCESS
    })
}

unsafe extern "C" fn cb_tick(_ev: c_int, _data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    guarded(MOSQ_ERR_SUCCESS, || {
        h.place_tails();
        h.plugin.tick();
        h.flush_logs();
        MOSQ_ERR_SUCCESS
    })
}

unsafe extern "C" fn cb_reload(_ev: c_int, _data: *mut c_void, userdata: *mut c_void) -> c_int {
    // SAFETY: registered with a Host as userdata.
    let h = unsafe { host(userdata) };
    guarded(MOSQ_ERR_PLUGIN_DEFER, || {
        // Other plugins may re-register their message callbacks on reload: the tail must move behind
        // them again, at the next callback that is not a message callback.
        h.tails_due.store(true, Ordering::Relaxed);
        h.plugin.reload();
        h.flush_logs();
        // "defer" lets mosquitto run the other plugins' reload handlers too.
        MOSQ_ERR_PLUGIN_DEFER
    })
}

const HEADS: [(c_int, GenericCallback); 6] = [
    (MOSQ_EVT_BASIC_AUTH, cb_basic_auth),
    (MOSQ_EVT_ACL_CHECK, cb_acl_check),
    (MOSQ_EVT_MESSAGE, cb_message),
    (MOSQ_EVT_DISCONNECT, cb_disconnect),
    (MOSQ_EVT_TICK, cb_tick),
    (MOSQ_EVT_RELOAD, cb_reload),
];

/// `int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)`.
///
/// # Safety
/// `versions` points to `count` ints, as mosquitto passes them.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_version(count: c_int, versions: *const c_int) -> c_int {
    if versions.is_null() || count <= 0 {
        return MOSQ_PLUGIN_VERSION;
    }
    // SAFETY: mosquitto passes an array of `count` supported versions.
    let vs = unsafe { std::slice::from_raw_parts(versions, count as usize) };
    if vs.contains(&MOSQ_PLUGIN_VERSION) {
        MOSQ_PLUGIN_VERSION
    } else {
        -1
    }
}

/// `int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt
/// *options, int option_count)`.
///
/// # Safety
/// Called by mosquitto with its identifier, a writable `userdata` slot and `count` options.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_init(
    id: *mut PluginId,
    userdata: *mut *mut c_void,
    opts: *mut MosquittoOpt,
    count: c_int,
) -> c_int {
    let Some(api) = Api::load() else {
        eprintln!("rocketmq-bridge: not running inside mosquitto 2.0 (broker symbols missing)");
        return MOSQ_ERR_UNKNOWN;
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: mosquitto passes `count` options with NUL-terminated key and value strings.
        let pairs: Vec<(String, String)> = if opts.is_null() || count <= 0 {
            Vec::new()
        } else {
            // SAFETY: mosquitto passes an array of `count` options, valid during init.
            let raw = unsafe { std::slice::from_raw_parts(opts, count as usize) };
            raw.iter()
                // SAFETY: each key and value is NULL or a NUL-terminated string owned by mosquitto.
                .filter_map(|o| unsafe {
                    Some((opt_string(o.key)?, opt_string(o.value).unwrap_or_default()))
                })
                .collect()
        };
        let level = pairs
            .iter()
            .find(|(k, _)| k == "log_level")
            .and_then(|(_, v)| {
                PluginOptions::parse([("config", "x"), ("log_level", v.as_str())]).ok()
            })
            .map_or(log::LevelFilter::Info, |o| o.log_level);
        logger::install(level);
        let parsed = PluginOptions::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let plugin = parsed
            .map_err(crate::plugin::StartError::Options)
            .and_then(Plugin::start);
        match plugin {
            Ok(plugin) => {
                let h = Box::new(Host {
                    id,
                    api,
                    plugin,
                    tails_due: AtomicBool::new(true),
                    nested: AtomicBool::new(false),
                });
                let mut rc = MOSQ_ERR_SUCCESS;
                for (ev, cb) in HEADS {
                    let r = h.register(ev, cb);
                    if r != MOSQ_ERR_SUCCESS {
                        log::error!("mosquitto_callback_register(event={ev}) returned {r}");
                        rc = MOSQ_ERR_UNKNOWN;
                    }
                }
                if h.plugin.options().acl == Decider::Elsewhere && h.api.acl_check.is_none() {
                    log::warn!(
                        "this mosquitto does not export mosquitto_acl_check: ACL decisions cannot be \
                         learned, so no session.subscribed, session.unsubscribed or message.delivered events"
                    );
                }
                h.flush_logs();
                let raw = Box::into_raw(h);
                if rc != MOSQ_ERR_SUCCESS {
                    // SAFETY: `raw` came from Box::into_raw above and was never handed to mosquitto.
                    unsafe { teardown(Box::from_raw(raw)) };
                    return rc;
                }
                // SAFETY: mosquitto gives a writable slot for the plugin's userdata.
                unsafe { *userdata = raw as *mut c_void };
                MOSQ_ERR_SUCCESS
            }
            Err(e) => {
                let (lines, _) = logger::take();
                for l in lines {
                    api.log(MOSQ_LOG_INFO, &l.text);
                }
                api.log(
                    MOSQ_LOG_ERR,
                    &format!("rocketmq-bridge: refusing to start: {e}"),
                );
                MOSQ_ERR_INVAL
            }
        }
    }));
    r.unwrap_or(MOSQ_ERR_UNKNOWN)
}

fn teardown(h: Box<Host>) {
    for (ev, cb) in HEADS {
        h.unregister(ev, cb);
    }
    h.unregister(MOSQ_EVT_MESSAGE, cb_message_tail);
    let Host { api, plugin, .. } = *h;
    if plugin.shutdown() {
        // A forwarder thread left running must not have its code unmapped by mosquitto's dlclose.
        pin_library();
    }
    let (lines, _) = logger::take();
    for l in lines {
        api.log(MOSQ_LOG_NOTICE, &l.text);
    }
}

/// `int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)`.
///
/// # Safety
/// `userdata` is what init stored (or NULL).
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    _opts: *mut MosquittoOpt,
    _count: c_int,
) -> c_int {
    if userdata.is_null() {
        return MOSQ_ERR_SUCCESS;
    }
    // SAFETY: `userdata` is the Box<Host> leaked by init; mosquitto calls cleanup once.
    let h = unsafe { Box::from_raw(userdata as *mut Host) };
    catch_unwind(AssertUnwindSafe(|| teardown(h))).map_or(MOSQ_ERR_UNKNOWN, |_| MOSQ_ERR_SUCCESS)
}
