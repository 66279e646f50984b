/*
 * rocketmq_bridge.h: the C ABI of the rocketmq-bridge library (crate rocketmq-bridge-capi,
 * built as librocketmq_bridge_capi.so / .a).
 *
 * A host (a C broker, a gateway, or Python/Go/Node through their FFI) starts a bridge from the
 * bridge's config file (the `bridge.rocket.*` format of docs and etc/emqx_bridge_rocket.conf),
 * hands it MQTT broker events, and stops it with a deadline. The bridge matches each event against
 * its hook rules and sends the JSON messages to RocketMQ, exactly as the Rust API
 * (`rocketmq_bridge::bridge::Bridge`) does: this ABI is a thin layer over it.
 *
 * ABI VERSION AND SEMVER PROMISE
 *   rmqb_abi_version() returns (RMQB_ABI_VERSION_MAJOR << 16) | RMQB_ABI_VERSION_MINOR of the
 *   library. Within one major version:
 *   - no function is removed or changes its signature or meaning;
 *   - no struct changes its size, field order or field meaning, no constant changes its value;
 *   - a minor version only adds functions, new structs (which later minors then keep as they
 *     are), layout items (numbered from minor << 16, see LAYOUT), status codes and constants (a
 *     host built against minor N runs with any library of the same major and minor >= N).
 *     Counters a minor version adds come in a new struct read by a new function, never as
 *     fields appended to an existing struct.
 *   Anything else is a new major version. A host should check at start:
 *     (rmqb_abi_version() >> 16) == RMQB_ABI_VERSION_MAJOR &&
 *     (rmqb_abi_version() & 0xffff) >= RMQB_ABI_VERSION_MINOR
 *   A host that must also run with an older minor links the newer functions lazily (dlsym) and
 *   calls them only when the library's minor is high enough.
 *   rmqb_version() is the library's own version (the crate's), for logs only.
 *
 *   Minor versions:
 *     1.0  everything not listed below.
 *     1.1  rmqb_stats_templates, rmqb_template_counters_t (the drops of rule templates),
 *          layout items RMQB_LAYOUT_SIZEOF_TEMPLATE_COUNTERS and
 *          RMQB_LAYOUT_OFFSETOF_TEMPLATE_COUNTERS_DROPPED_TOPIC_CAP (RMQB_LAYOUT_COUNT_1_1).
 *
 * MEMORY AND STRINGS
 *   - Every pointer argument is checked: a NULL where a value is required returns
 *     RMQB_ERR_INVALID (or NULL from the start functions) and never crashes.
 *   - Strings in events are borrowed (pointer + length, no NUL needed) and must be UTF-8; the
 *     library copies what it keeps before the call returns. A NULL pointer means "absent" (written
 *     as null in the JSON), whatever the length; a non-NULL pointer with length 0 is "".
 *   - Error text is written into a buffer the caller owns (`err`, `err_cap` bytes), always
 *     NUL-terminated and cut at a UTF-8 character boundary; `err` may be NULL. The library never
 *     hands out memory the caller must free.
 *   - No Rust panic crosses this boundary: a panic inside a call returns RMQB_ERR_PANIC (NULL from
 *     the start functions; rmqb_stop still frees the handle).
 *
 * THREADS
 *   - rmqb_send, rmqb_send_async, rmqb_stats, rmqb_stats_templates, rmqb_reload_file and
 *     rmqb_reload_text may be called on one handle from any number of threads at the same time.
 *   - rmqb_stop frees the handle: no other call on that handle may run or start at the same time
 *     or afterwards (the host must order it after every other call, e.g. by joining its threads).
 *   - The outcome and log callbacks are called on the library's threads (and, for a refusal
 *     while buffering, on the thread calling rmqb_send_async), possibly on several threads at
 *     once. They must be thread-safe, return quickly, and must not call rmqb_stop; with
 *     `buffer.overflow = block` the outcome callback must not send events.
 *   - rmqb_set_log_callback is process-wide (the Rust `log` facade has one logger per process).
 *
 * LAYOUT
 *   The RMQB_LAYOUT_* items name sizes and offsets that rmqb_layout() returns for the library's
 *   structs; RMQB_SIZEOF_* / RMQB_OFFSETOF_* are their values on 64-bit targets (checked against
 *   the Rust side by the crate's tests). A host can compare rmqb_layout() with sizeof/offsetof.
 *   Items of ABI 1.0 are 0 .. RMQB_LAYOUT_COUNT - 1; those a minor version m added are
 *   (m << 16) .. (m << 16) + RMQB_LAYOUT_COUNT_1_m - 1, so no item's number or count changes
 *   with a minor version. rmqb_layout() is 0 for an item the library does not know (a 1.0
 *   library for the 1.1 items).
 */
#ifndef ROCKETMQ_BRIDGE_H
#define ROCKETMQ_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RMQB_ABI_VERSION_MAJOR 1
#define RMQB_ABI_VERSION_MINOR 1

/* ---- status codes (int32_t) ------------------------------------------------------------------ */
/** rmqb_send_async: the event is buffered; the outcome callback will be called exactly once. */
#define RMQB_PENDING 1
/** Success (rmqb_send: confirmed by the broker in sync mode, buffered in async mode; an event no
 *  rule matches is a success too). */
#define RMQB_OK 0
/** A NULL or invalid argument: pointer, event kind, qos, a field the event kind does not carry,
 *  a string that is not UTF-8, non-zero reserved fields. Nothing was sent. */
#define RMQB_ERR_INVALID (-1)
/** The bridge is shut down. */
#define RMQB_ERR_CLOSED (-2)
/** A message of the event was dropped (too large, buffer full, shutdown); counted. */
#define RMQB_ERR_DROPPED (-3)
/** The broker did not store a message. */
#define RMQB_ERR_FAILED (-4)
/** A message may or may not be stored (timeout or connection loss after the write). */
#define RMQB_ERR_OUTCOME_UNKNOWN (-5)
/** Sync mode: no outcome in time; the message may still be sent. */
#define RMQB_ERR_TIMEOUT (-6)
/** The config file or text is invalid (the error text names file, line and key). */
#define RMQB_ERR_CONFIG (-7)
/** The bridge could not start or apply a reload (producer, missing topics, no name server...). */
#define RMQB_ERR_START (-8)
/** A panic inside the library was caught. */
#define RMQB_ERR_PANIC (-9)
/** rmqb_set_log_callback: another logger is already installed in this process. */
#define RMQB_ERR_LOGGER (-10)
/** rmqb_stop: not every buffered message got its outcome before the deadline, or some ended
 *  unsent (the report says which and why). */
#define RMQB_ERR_INCOMPLETE (-11)

/* ---- event kinds (rmqb_event_t.kind) ----------------------------------------------------------- */
#define RMQB_EVENT_CLIENT_CONNECTED 0     /* client_id, username, ts                              */
#define RMQB_EVENT_CLIENT_DISCONNECTED 1  /* client_id, username, reason, ts                      */
#define RMQB_EVENT_SESSION_SUBSCRIBED 2   /* client_id, topic (the filter), qos, ts               */
#define RMQB_EVENT_SESSION_UNSUBSCRIBED 3 /* client_id, topic (the filter), qos, ts               */
#define RMQB_EVENT_MESSAGE_PUBLISH 4      /* client_id, username, topic, payload, qos, retain, ts */
#define RMQB_EVENT_MESSAGE_DELIVERED 5    /* ... as publish, and from (the publisher)             */
#define RMQB_EVENT_MESSAGE_ACKED 6        /* ... as delivered                                     */

/* ---- log levels (rmqb_set_log_callback) -------------------------------------------------------- */
#define RMQB_LOG_OFF 0
#define RMQB_LOG_ERROR 1
#define RMQB_LOG_WARN 2
#define RMQB_LOG_INFO 3
#define RMQB_LOG_DEBUG 4
#define RMQB_LOG_TRACE 5

/** The running bridge (opaque). */
typedef struct rmqb_bridge rmqb_bridge_t;

/** A borrowed UTF-8 string: `ptr == NULL` means absent. */
typedef struct rmqb_str {
    const char *ptr;
    size_t len;
} rmqb_str_t;

/** Borrowed bytes: `ptr == NULL` means absent. */
typedef struct rmqb_bytes {
    const uint8_t *ptr;
    size_t len;
} rmqb_bytes_t;

/** One MQTT broker event. Zero it (`= {0}`) and set `kind`, then what is known; `qos` and `retain`
 *  are -1 when absent. A field the kind does not carry (see RMQB_EVENT_*) must be absent. */
typedef struct rmqb_event {
    uint32_t kind;      /* RMQB_EVENT_* */
    int32_t qos;        /* 0, 1, 2, or -1 absent (session.* and message.*) */
    int32_t retain;     /* 0, 1, or -1 absent (message.*; goes to the mqtt_retain property) */
    uint32_t reserved;  /* must be 0 */
    uint64_t ts_ms;     /* ms since the Unix epoch; 0 means "when the bridge formats it" */
    rmqb_str_t client_id;
    rmqb_str_t username;
    rmqb_str_t topic;   /* topic name (message.*) or topic filter (session.*) */
    rmqb_str_t from;    /* the publisher's client id (message.delivered, message.acked) */
    rmqb_str_t reason;  /* client.disconnected */
    rmqb_bytes_t payload;
} rmqb_event_t;

/** The bridge's counters: totals over all rules, then the bridge's gauges, then the spool's
 *  (all 0 when `spool_present` is 0). Monotonic unless marked "now". */
typedef struct rmqb_counters {
    uint64_t matched;             /* events that matched a rule, per rule */
    uint64_t sent;                /* messages the broker confirmed */
    uint64_t failed;
    uint64_t outcome_unknown;
    uint64_t resolved_stored;
    uint64_t resolved_not_stored;
    uint64_t unresolved;
    uint64_t dropped_too_large;
    uint64_t dropped_overflow;
    uint64_t dropped_shutdown;
    uint64_t dropped_spool_error;
    uint64_t lossy_payload;
    uint64_t unmatched;           /* events no rule matched */
    uint64_t buffered_bytes;      /* now */
    uint64_t in_flight;           /* now */
    uint64_t queue_depth;         /* now */
    uint64_t held;                /* now */
    uint64_t held_resent;
    uint64_t resolving;           /* now */
    uint64_t loss_reports_sent;
    uint64_t loss_report_failures;
    uint64_t spool_present;       /* 1 with a spool, else 0 */
    uint64_t spool_bytes;         /* now */
    uint64_t spool_pending_records; /* now */
    uint64_t spool_appended;
    uint64_t spool_acked;
    uint64_t spool_recovered;
    uint64_t spool_resent;
    uint64_t spool_dropped_cap_reached;
    uint64_t spool_dropped_corrupt;
    uint64_t spool_dropped_missing;
    uint64_t spool_undecodable;
} rmqb_counters_t;

/** ABI 1.1: the drops of rule templates (README "Rule templates"), totals over all rules as in
 *  rmqb_counters_t; monotonic. Each is also a reason of RMQB_ERR_DROPPED. They are counted when
 *  an event is handed over, on the calling thread, so after a host's last send they are final
 *  (rmqb_stop's report does not carry them). */
typedef struct rmqb_template_counters {
    uint64_t dropped_bad_topic;   /* a topic template rendered an invalid RocketMQ topic name */
    uint64_t dropped_bad_tag;     /* a tag template rendered an invalid tag */
    uint64_t dropped_no_topic;    /* a rendered topic the name servers do not know */
    uint64_t dropped_topic_cap;   /* a new rendered topic beyond bridge.rocket.template.max_topics */
} rmqb_template_counters_t;

/** What rmqb_stop achieved. */
typedef struct rmqb_report {
    uint32_t drained;             /* 1: every buffered message got its outcome before the deadline */
    uint32_t reserved;
    uint64_t elapsed_ms;          /* time the shutdown took */
    uint64_t sent_during_shutdown;
    uint64_t unsent;              /* messages not confirmed during the shutdown (listed in the text) */
    rmqb_counters_t counters;     /* the final counters */
} rmqb_report_t;

/** The outcome of one rmqb_send_async that returned RMQB_PENDING: `status` is RMQB_OK or an
 *  RMQB_ERR_* code; `detail` (`detail_len` bytes, NUL-terminated, valid only during the call) says
 *  why, "" on success. */
typedef void (*rmqb_outcome_fn)(void *user, uint64_t tag, int32_t status, const char *detail,
                                size_t detail_len);

/** One log record: `level` RMQB_LOG_ERROR..TRACE; `target` (the Rust module) and `message` are
 *  NUL-terminated, valid only during the call. Never carries payloads above RMQB_LOG_TRACE. */
typedef void (*rmqb_log_fn)(void *user, int32_t level, const char *target, size_t target_len,
                            const char *message, size_t message_len);

/* ---- layout items (rmqb_layout) ---------------------------------------------------------------- */
#define RMQB_LAYOUT_SIZEOF_STR 0
#define RMQB_LAYOUT_SIZEOF_BYTES 1
#define RMQB_LAYOUT_SIZEOF_EVENT 2
#define RMQB_LAYOUT_OFFSETOF_EVENT_TS_MS 3
#define RMQB_LAYOUT_OFFSETOF_EVENT_CLIENT_ID 4
#define RMQB_LAYOUT_OFFSETOF_EVENT_USERNAME 5
#define RMQB_LAYOUT_OFFSETOF_EVENT_TOPIC 6
#define RMQB_LAYOUT_OFFSETOF_EVENT_FROM 7
#define RMQB_LAYOUT_OFFSETOF_EVENT_REASON 8
#define RMQB_LAYOUT_OFFSETOF_EVENT_PAYLOAD 9
#define RMQB_LAYOUT_SIZEOF_COUNTERS 10
#define RMQB_LAYOUT_OFFSETOF_COUNTERS_UNMATCHED 11
#define RMQB_LAYOUT_OFFSETOF_COUNTERS_SPOOL_UNDECODABLE 12
#define RMQB_LAYOUT_SIZEOF_REPORT 13
#define RMQB_LAYOUT_OFFSETOF_REPORT_ELAPSED_MS 14
#define RMQB_LAYOUT_OFFSETOF_REPORT_COUNTERS 15
#define RMQB_LAYOUT_COUNT 16 /* the items of 1.0, above */
/* ABI 1.1, numbered from 1 << 16: */
#define RMQB_LAYOUT_SIZEOF_TEMPLATE_COUNTERS 65536
#define RMQB_LAYOUT_OFFSETOF_TEMPLATE_COUNTERS_DROPPED_TOPIC_CAP 65537
#define RMQB_LAYOUT_COUNT_1_1 2

#if UINTPTR_MAX == 0xffffffffffffffffu
#define RMQB_SIZEOF_STR 16
#define RMQB_SIZEOF_BYTES 16
#define RMQB_SIZEOF_EVENT 120
#define RMQB_OFFSETOF_EVENT_TS_MS 16
#define RMQB_OFFSETOF_EVENT_CLIENT_ID 24
#define RMQB_OFFSETOF_EVENT_USERNAME 40
#define RMQB_OFFSETOF_EVENT_TOPIC 56
#define RMQB_OFFSETOF_EVENT_FROM 72
#define RMQB_OFFSETOF_EVENT_REASON 88
#define RMQB_OFFSETOF_EVENT_PAYLOAD 104
#define RMQB_SIZEOF_COUNTERS 256
#define RMQB_OFFSETOF_COUNTERS_UNMATCHED 96
#define RMQB_OFFSETOF_COUNTERS_SPOOL_UNDECODABLE 248
#define RMQB_SIZEOF_REPORT 288
#define RMQB_OFFSETOF_REPORT_ELAPSED_MS 8
#define RMQB_OFFSETOF_REPORT_COUNTERS 32
#define RMQB_SIZEOF_TEMPLATE_COUNTERS 32
#define RMQB_OFFSETOF_TEMPLATE_COUNTERS_DROPPED_TOPIC_CAP 24
#endif

/* ---- functions --------------------------------------------------------------------------------- */

/** (major << 16) | minor of the ABI this library implements. */
uint32_t rmqb_abi_version(void);

/** The library's version, e.g. "0.1.0" (static, NUL-terminated). */
const char *rmqb_version(void);

/** The size or offset named by `item` (RMQB_LAYOUT_*), as the library was built; 0 for an
 *  unknown item. */
size_t rmqb_layout(uint32_t item);

/** A static, NUL-terminated name for a status code ("RMQB_OK", "RMQB_ERR_DROPPED", ...;
 *  "unknown" for other values). */
const char *rmqb_status_name(int32_t status);

/** Sends the library's log records at `max_level` and above (RMQB_LOG_*) to `cb`; `cb == NULL` or
 *  RMQB_LOG_OFF stops them. Process-wide; the first call installs the library's logger.
 *  Returns RMQB_OK, RMQB_ERR_INVALID (level out of range) or RMQB_ERR_LOGGER (another logger is
 *  installed in this process, e.g. by a Rust host). */
int32_t rmqb_set_log_callback(rmqb_log_fn cb, void *user, int32_t max_level);

/** Loads the config file at `path` (NUL-terminated) and starts the bridge (connects to the name
 *  servers and checks the rules' topics). `on_outcome` (may be NULL) receives the outcomes of
 *  rmqb_send_async with `user`. Returns the handle, or NULL with the reason in `err`. */
rmqb_bridge_t *rmqb_start_file(const char *path, rmqb_outcome_fn on_outcome, void *user,
                               char *err, size_t err_cap);

/** As rmqb_start_file, from config text (`len` bytes, UTF-8, no NUL needed). */
rmqb_bridge_t *rmqb_start_text(const char *text, size_t len, rmqb_outcome_fn on_outcome,
                               void *user, char *err, size_t err_cap);

/** Hands one event over in the config's mode: with `bridge.rocket.produce = sync` it returns
 *  after the broker confirmed every message of the event (or failed), with async once they are
 *  buffered. Returns RMQB_OK or an RMQB_ERR_* code with the reason in `err` (may be NULL). */
int32_t rmqb_send(rmqb_bridge_t *bridge, const rmqb_event_t *event, char *err, size_t err_cap);

/** Hands one event over without waiting for the broker, in either mode. RMQB_PENDING: buffered,
 *  and the outcome callback will be called exactly once with `tag` (when the last message of
 *  the event ended; messages the bridge holds or looks up end later). RMQB_OK: no rule matched,
 *  or (with a spool) the spool stored it; no callback. RMQB_ERR_*: refused; no callback. */
int32_t rmqb_send_async(rmqb_bridge_t *bridge, const rmqb_event_t *event, uint64_t tag);

/** Copies the counters into `out`. RMQB_OK or RMQB_ERR_INVALID. */
int32_t rmqb_stats(const rmqb_bridge_t *bridge, rmqb_counters_t *out);

/** ABI 1.1: copies the template drop counters into `out`. RMQB_OK or RMQB_ERR_INVALID. */
int32_t rmqb_stats_templates(const rmqb_bridge_t *bridge, rmqb_template_counters_t *out);

/** Replaces the rules and the node name with those of the config file at `path`; buffered
 *  events are sent as formatted. Other keys (servers, mode, buffer...) need a restart. RMQB_OK, or RMQB_ERR_CONFIG / RMQB_ERR_START
 *  (the old rules stay) with the reason in `err`. */
int32_t rmqb_reload_file(rmqb_bridge_t *bridge, const char *path, char *err, size_t err_cap);

/** As rmqb_reload_file, from config text (`len` bytes). */
int32_t rmqb_reload_text(rmqb_bridge_t *bridge, const char *text, size_t len, char *err,
                         size_t err_cap);

/** Stops taking events, sends what is buffered within `deadline_ms`, stops the bridge and frees
 *  the handle. `report` and `text` (the report with one line per unsent message, NUL-terminated,
 *  cut to `text_cap`) may be NULL. RMQB_OK when drained and nothing ended unsent,
 *  RMQB_ERR_INCOMPLETE otherwise (see the report), RMQB_ERR_INVALID for a NULL handle. */
int32_t rmqb_stop(rmqb_bridge_t *bridge, uint64_t deadline_ms, rmqb_report_t *report, char *text,
                  size_t text_cap);

#ifdef __cplusplus
}
#endif

#endif /* ROCKETMQ_BRIDGE_H */
