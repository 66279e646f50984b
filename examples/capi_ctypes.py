#!/usr/bin/env python3
"""The bridge's C ABI (include/rocketmq_bridge.h) from Python through ctypes.

    cargo build -p rocketmq-bridge-capi
    python3 examples/capi_ctypes.py target/debug/librocketmq_bridge_capi.so etc/emqx_bridge_rocket.conf

Starts a bridge from the config file, sends one message.publish event (rmqb_send: with
`bridge.rocket.produce = sync` it returns once the broker stored it), prints the counters (with
a library of ABI 1.1 or later also the template drop counters, rmqb_stats_templates) and
stops the bridge. Exits 1 on any failure. Run by capi/tests/c_abi.rs, which reads the message back.
"""
import ctypes
import sys

RMQB_OK = 0
RMQB_EVENT_MESSAGE_PUBLISH = 4
RMQB_LOG_INFO = 3


class Str(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("len", ctypes.c_size_t)]


class Bytes(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("len", ctypes.c_size_t)]


class Event(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("qos", ctypes.c_int32),
        ("retain", ctypes.c_int32),
        ("reserved", ctypes.c_uint32),
        ("ts_ms", ctypes.c_uint64),
        ("client_id", Str),
        ("username", Str),
        ("topic", Str),
        ("from_", Str),
        ("reason", Str),
        ("payload", Bytes),
    ]


COUNTER_NAMES = (
    "matched sent failed outcome_unknown resolved_stored resolved_not_stored unresolved "
    "dropped_too_large dropped_overflow dropped_shutdown dropped_spool_error lossy_payload "
    "unmatched buffered_bytes in_flight queue_depth held held_resent resolving loss_reports_sent "
    "loss_report_failures spool_present spool_bytes spool_pending_records spool_appended "
    "spool_acked spool_recovered spool_resent spool_dropped_cap_reached spool_dropped_corrupt "
    "spool_dropped_missing spool_undecodable"
).split()


class Counters(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in COUNTER_NAMES]


class TemplateCounters(ctypes.Structure):
    """rmqb_template_counters_t (ABI 1.1)."""

    _fields_ = [
        (n, ctypes.c_uint64)
        for n in ("dropped_bad_topic", "dropped_bad_tag", "dropped_no_topic", "dropped_topic_cap")
    ]


class Report(ctypes.Structure):
    _fields_ = [
        ("drained", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("elapsed_ms", ctypes.c_uint64),
        ("sent_during_shutdown", ctypes.c_uint64),
        ("unsent", ctypes.c_uint64),
        ("counters", Counters),
    ]


OUTCOME_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t
)
LOG_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
    ctypes.c_size_t,
)


def text(s):
    b = s.encode()
    return Str(b, len(b))


def main():
    lib = ctypes.CDLL(sys.argv[1])
    lib.rmqb_abi_version.restype = ctypes.c_uint32
    lib.rmqb_version.restype = ctypes.c_char_p
    lib.rmqb_layout.restype = ctypes.c_size_t
    lib.rmqb_layout.argtypes = [ctypes.c_uint32]
    lib.rmqb_status_name.restype = ctypes.c_char_p
    lib.rmqb_set_log_callback.argtypes = [LOG_FN, ctypes.c_void_p, ctypes.c_int32]
    lib.rmqb_start_file.restype = ctypes.c_void_p
    lib.rmqb_start_file.argtypes = [
        ctypes.c_char_p, OUTCOME_FN, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    ]
    lib.rmqb_send.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(Event), ctypes.c_char_p, ctypes.c_size_t
    ]
    lib.rmqb_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(Counters)]
    lib.rmqb_stop.argtypes = [
        ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(Report), ctypes.c_char_p,
        ctypes.c_size_t,
    ]

    abi = lib.rmqb_abi_version()
    if abi >> 16 != 1:
        sys.exit(f"ABI major {abi >> 16}, this example speaks 1")
    # rmqb_stats_templates came with ABI 1.1: looked up only when the library has it.
    has_templates = (abi & 0xFFFF) >= 1
    if has_templates:
        lib.rmqb_stats_templates.argtypes = [ctypes.c_void_p, ctypes.POINTER(TemplateCounters)]
        # RMQB_LAYOUT_SIZEOF_TEMPLATE_COUNTERS: the 1.1 items are numbered from 1 << 16.
        assert lib.rmqb_layout(1 << 16) == ctypes.sizeof(TemplateCounters)
    # The structs above must have the library's layout (RMQB_LAYOUT_SIZEOF_EVENT = 2, ..._REPORT = 13).
    assert lib.rmqb_layout(2) == ctypes.sizeof(Event)
    assert lib.rmqb_layout(13) == ctypes.sizeof(Report)

    # Keep the callbacks referenced while the library may call them.
    log_cb = LOG_FN(lambda user, level, target, tl, msg, ml: print(f"log {level} {target.decode()}: {msg.decode()}"))
    outcome_cb = OUTCOME_FN(lambda user, tag, status, detail, dl: None)
    if lib.rmqb_set_log_callback(log_cb, None, RMQB_LOG_INFO) != RMQB_OK:
        sys.exit("could not install the log callback")

    err = ctypes.create_string_buffer(1024)
    bridge = lib.rmqb_start_file(sys.argv[2].encode(), outcome_cb, None, err, len(err))
    if not bridge:
        sys.exit(f"start failed: {err.value.decode()}")

    ev = Event()
    ev.kind = RMQB_EVENT_MESSAGE_PUBLISH
    ev.qos = 1
    ev.retain = -1
    ev.ts_ms = 1700000000000
    ev.client_id = text("py-1")
    ev.username = text("python")
    ev.topic = text("sensors/1/temp")
    ev.payload = Bytes(b"21.5", 4)
    status = lib.rmqb_send(bridge, ctypes.byref(ev), err, len(err))
    if status != RMQB_OK:
        lib.rmqb_stop(bridge, 1000, None, None, 0)
        sys.exit(f"send: {lib.rmqb_status_name(status).decode()}: {err.value.decode()}")

    c = Counters()
    lib.rmqb_stats(bridge, ctypes.byref(c))
    tc = TemplateCounters()
    if has_templates and lib.rmqb_stats_templates(bridge, ctypes.byref(tc)) != RMQB_OK:
        sys.exit("rmqb_stats_templates failed")
    report = Report()
    status = lib.rmqb_stop(bridge, 5000, ctypes.byref(report), None, 0)
    lib.rmqb_set_log_callback(LOG_FN(), None, 0)
    print(
        f"version={lib.rmqb_version().decode()} matched={c.matched} sent={c.sent} "
        f"stop={lib.rmqb_status_name(status).decode()} drained={report.drained} "
        f"abi={abi >> 16}.{abi & 0xFFFF} dropped_topic_cap={tc.dropped_topic_cap}"
    )
    return 0 if status == RMQB_OK and c.sent == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
