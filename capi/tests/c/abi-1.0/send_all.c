/*
 * The C ABI's test host: includes the header, checks the struct layout at compile time and
 * against the library at run time, calls every function of the header, and sends the seven
 * events (four with rmqb_send, three with rmqb_send_async) to the bridge started from the config
 * file given as argv[1] (produce = sync). capi/tests/c_abi.rs compiles it with the system cc,
 * runs it against the real broker (also under valgrind) and reads the messages back.
 *
 * Exits 0 and prints "c-abi: ok ..." when every check passed; prints the failed check and exits 1
 * otherwise.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "rocketmq_bridge.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef RMQB_SIZEOF_EVENT
#error "the layout constants are defined for 64-bit targets"
#endif
_Static_assert(sizeof(rmqb_str_t) == RMQB_SIZEOF_STR, "rmqb_str_t size");
_Static_assert(sizeof(rmqb_bytes_t) == RMQB_SIZEOF_BYTES, "rmqb_bytes_t size");
_Static_assert(sizeof(rmqb_event_t) == RMQB_SIZEOF_EVENT, "rmqb_event_t size");
_Static_assert(offsetof(rmqb_event_t, ts_ms) == RMQB_OFFSETOF_EVENT_TS_MS, "ts_ms");
_Static_assert(offsetof(rmqb_event_t, client_id) == RMQB_OFFSETOF_EVENT_CLIENT_ID, "client_id");
_Static_assert(offsetof(rmqb_event_t, username) == RMQB_OFFSETOF_EVENT_USERNAME, "username");
_Static_assert(offsetof(rmqb_event_t, topic) == RMQB_OFFSETOF_EVENT_TOPIC, "topic");
_Static_assert(offsetof(rmqb_event_t, from) == RMQB_OFFSETOF_EVENT_FROM, "from");
_Static_assert(offsetof(rmqb_event_t, reason) == RMQB_OFFSETOF_EVENT_REASON, "reason");
_Static_assert(offsetof(rmqb_event_t, payload) == RMQB_OFFSETOF_EVENT_PAYLOAD, "payload");
_Static_assert(sizeof(rmqb_counters_t) == RMQB_SIZEOF_COUNTERS, "rmqb_counters_t size");
_Static_assert(offsetof(rmqb_counters_t, unmatched) == RMQB_OFFSETOF_COUNTERS_UNMATCHED,
               "unmatched");
_Static_assert(offsetof(rmqb_counters_t, spool_undecodable) ==
                   RMQB_OFFSETOF_COUNTERS_SPOOL_UNDECODABLE,
               "spool_undecodable");
_Static_assert(sizeof(rmqb_report_t) == RMQB_SIZEOF_REPORT, "rmqb_report_t size");
_Static_assert(offsetof(rmqb_report_t, elapsed_ms) == RMQB_OFFSETOF_REPORT_ELAPSED_MS,
               "elapsed_ms");
_Static_assert(offsetof(rmqb_report_t, counters) == RMQB_OFFSETOF_REPORT_COUNTERS, "counters");

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "c-abi: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* The layout this file was compiled with, in RMQB_LAYOUT_* order. */
static const size_t LAYOUT[RMQB_LAYOUT_COUNT] = {
    sizeof(rmqb_str_t),
    sizeof(rmqb_bytes_t),
    sizeof(rmqb_event_t),
    offsetof(rmqb_event_t, ts_ms),
    offsetof(rmqb_event_t, client_id),
    offsetof(rmqb_event_t, username),
    offsetof(rmqb_event_t, topic),
    offsetof(rmqb_event_t, from),
    offsetof(rmqb_event_t, reason),
    offsetof(rmqb_event_t, payload),
    sizeof(rmqb_counters_t),
    offsetof(rmqb_counters_t, unmatched),
    offsetof(rmqb_counters_t, spool_undecodable),
    sizeof(rmqb_report_t),
    offsetof(rmqb_report_t, elapsed_ms),
    offsetof(rmqb_report_t, counters),
};

static int USER_MARK; /* its address is the callbacks' user pointer */
static atomic_int outcomes;
static atomic_int outcome_errors;
static atomic_int logs;

static void on_outcome(void *user, uint64_t tag, int32_t status, const char *detail,
                       size_t detail_len) {
    if (user != &USER_MARK || tag < 4 || tag > 6 || detail[detail_len] != '\0') {
        atomic_fetch_add(&outcome_errors, 1);
    } else if (status != RMQB_OK) {
        fprintf(stderr, "c-abi: event %llu: %s: %s\n", (unsigned long long)tag,
                rmqb_status_name(status), detail);
        atomic_fetch_add(&outcome_errors, 1);
    }
    atomic_fetch_add(&outcomes, 1);
}

static void on_log(void *user, int32_t level, const char *target, size_t target_len,
                   const char *message, size_t message_len) {
    if (user == &USER_MARK && level >= RMQB_LOG_ERROR && level <= RMQB_LOG_TRACE &&
        target[target_len] == '\0' && message[message_len] == '\0') {
        atomic_fetch_add(&logs, 1);
    }
}

static rmqb_str_t S(const char *s) {
    rmqb_str_t r = {s, strlen(s)};
    return r;
}

static rmqb_event_t event(uint32_t kind) {
    rmqb_event_t e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.qos = -1;
    e.retain = -1;
    e.ts_ms = 1700000000000ull + kind;
    return e;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n > 0);
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    char *buf = malloc((size_t)n);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    const char *config = argv[1];
    char err[512];

    /* Version and layout. */
    uint32_t abi = rmqb_abi_version();
    CHECK((long)(abi >> 16) == RMQB_ABI_VERSION_MAJOR && (long)(abi & 0xffff) >= RMQB_ABI_VERSION_MINOR);
    CHECK(strlen(rmqb_version()) > 0);
    for (uint32_t i = 0; i < RMQB_LAYOUT_COUNT; i++) {
        CHECK(rmqb_layout(i) == LAYOUT[i]);
    }
    CHECK(rmqb_layout(RMQB_LAYOUT_COUNT) == 0);
    CHECK(strcmp(rmqb_status_name(RMQB_ERR_DROPPED), "RMQB_ERR_DROPPED") == 0);
    CHECK(strcmp(rmqb_status_name(12345), "unknown") == 0);

    /* Logging. */
    CHECK(rmqb_set_log_callback(on_log, &USER_MARK, 9) == RMQB_ERR_INVALID);
    CHECK(rmqb_set_log_callback(on_log, &USER_MARK, RMQB_LOG_DEBUG) == RMQB_OK);

    /* Start failures: the reason comes back in err. */
    err[0] = '\0';
    CHECK(rmqb_start_file("/nonexistent/bridge.conf", on_outcome, &USER_MARK, err, sizeof err) ==
          NULL);
    CHECK(strstr(err, "/nonexistent/bridge.conf") != NULL);
    const char *bad = "bridge.rocket.no_such_key = 1\n";
    err[0] = '\0';
    CHECK(rmqb_start_text(bad, strlen(bad), NULL, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "no_such_key") != NULL);
    CHECK(rmqb_start_text(NULL, 3, NULL, NULL, err, sizeof err) == NULL);
    CHECK(rmqb_start_file(NULL, NULL, NULL, NULL, 0) == NULL);
    /* A 4-byte buffer gets 3 bytes of the message and the NUL. */
    char tiny[4] = {'x', 'x', 'x', 'x'};
    CHECK(rmqb_start_text(bad, strlen(bad), NULL, NULL, tiny, sizeof tiny) == NULL);
    CHECK(tiny[3] == '\0' && strlen(tiny) == 3);

    /* The bridge. */
    err[0] = '\0';
    rmqb_bridge_t *b = rmqb_start_file(config, on_outcome, &USER_MARK, err, sizeof err);
    if (b == NULL) {
        fprintf(stderr, "c-abi: start failed: %s\n", err);
        return 1;
    }

    /* The seven events (the Rust test rebuilds them to compare the bodies). */
    rmqb_event_t ev[7];
    ev[0] = event(RMQB_EVENT_CLIENT_CONNECTED);
    ev[0].client_id = S("c-conn");
    ev[0].username = S("alice");
    ev[1] = event(RMQB_EVENT_CLIENT_DISCONNECTED);
    ev[1].client_id = S("c-conn");
    ev[1].username = S("alice");
    ev[1].reason = S("normal");
    ev[2] = event(RMQB_EVENT_SESSION_SUBSCRIBED);
    ev[2].client_id = S("c-sub");
    ev[2].topic = S("a/+");
    ev[2].qos = 1;
    ev[3] = event(RMQB_EVENT_SESSION_UNSUBSCRIBED);
    ev[3].client_id = S("c-sub");
    ev[3].topic = S("a/+");
    static const uint8_t binary[5] = {0, 1, 2, 0xff, 'x'};
    ev[4] = event(RMQB_EVENT_MESSAGE_PUBLISH);
    ev[4].client_id = S("c-pub");
    ev[4].username = S("bob");
    ev[4].topic = S("a/b");
    ev[4].payload.ptr = binary;
    ev[4].payload.len = sizeof binary;
    ev[4].qos = 1;
    ev[4].retain = 0;
    ev[5] = event(RMQB_EVENT_MESSAGE_DELIVERED);
    ev[5].client_id = S("c-sub");
    ev[5].username = S("carol");
    ev[5].from = S("c-pub");
    ev[5].topic = S("a/b");
    ev[5].payload.ptr = (const uint8_t *)"hello";
    ev[5].payload.len = 5;
    ev[5].qos = 0;
    ev[5].retain = 1;
    ev[6] = event(RMQB_EVENT_MESSAGE_ACKED);
    ev[6].client_id = S("c-sub");
    ev[6].from = S("c-pub");
    ev[6].topic = S("a/b");
    ev[6].payload.ptr = (const uint8_t *)""; /* present and empty */
    ev[6].payload.len = 0;
    ev[6].qos = 2;

    for (int i = 0; i < 4; i++) {
        err[0] = '\0';
        int32_t st = rmqb_send(b, &ev[i], err, sizeof err);
        if (st != RMQB_OK) {
            fprintf(stderr, "c-abi: send %d: %s: %s\n", i, rmqb_status_name(st), err);
            return 1;
        }
    }
    for (int i = 4; i < 7; i++) {
        CHECK(rmqb_send_async(b, &ev[i], (uint64_t)i) == RMQB_PENDING);
    }
    /* The outcomes arrive on the bridge's threads: wait up to 60 s. */
    for (int i = 0; i < 6000 && atomic_load(&outcomes) < 3; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&outcomes) == 3);
    CHECK(atomic_load(&outcome_errors) == 0);

    /* Refused events: every pointer checked, nothing sent. */
    CHECK(rmqb_send(NULL, &ev[0], err, sizeof err) == RMQB_ERR_INVALID);
    CHECK(rmqb_send(b, NULL, NULL, 0) == RMQB_ERR_INVALID);
    CHECK(rmqb_send_async(b, NULL, 1) == RMQB_ERR_INVALID);
    CHECK(rmqb_send_async(NULL, &ev[0], 1) == RMQB_ERR_INVALID);
    rmqb_event_t wrong = ev[0];
    wrong.kind = 7;
    err[0] = '\0';
    CHECK(rmqb_send(b, &wrong, err, sizeof err) == RMQB_ERR_INVALID);
    CHECK(strstr(err, "kind 7") != NULL);
    wrong = ev[4];
    wrong.reason = S("not for publish");
    CHECK(rmqb_send(b, &wrong, err, sizeof err) == RMQB_ERR_INVALID);
    CHECK(strstr(err, "reason") != NULL);
    wrong = ev[4];
    wrong.client_id.ptr = "\xff\xfe";
    wrong.client_id.len = 2;
    CHECK(rmqb_send(b, &wrong, err, sizeof err) == RMQB_ERR_INVALID);
    CHECK(strstr(err, "UTF-8") != NULL);
    wrong = ev[4];
    wrong.qos = 3;
    CHECK(rmqb_send_async(b, &wrong, 1) == RMQB_ERR_INVALID);

    /* Counters. */
    rmqb_counters_t c;
    CHECK(rmqb_stats(NULL, &c) == RMQB_ERR_INVALID);
    CHECK(rmqb_stats(b, NULL) == RMQB_ERR_INVALID);
    CHECK(rmqb_stats(b, &c) == RMQB_OK);
    CHECK(c.matched == 7 && c.sent == 7 && c.failed == 0 && c.unmatched == 0);
    CHECK(c.in_flight == 0 && c.spool_present == 0);

    /* Reload: the same rules from the file and from text; a bad text keeps the old rules. */
    CHECK(rmqb_reload_file(b, config, err, sizeof err) == RMQB_OK);
    size_t text_len = 0;
    char *text = read_file(config, &text_len);
    CHECK(rmqb_reload_text(b, text, text_len, err, sizeof err) == RMQB_OK);
    free(text);
    err[0] = '\0';
    CHECK(rmqb_reload_text(b, bad, strlen(bad), err, sizeof err) == RMQB_ERR_CONFIG);
    CHECK(strstr(err, "no_such_key") != NULL);
    CHECK(rmqb_reload_file(b, NULL, err, sizeof err) == RMQB_ERR_INVALID);
    CHECK(rmqb_reload_text(NULL, bad, strlen(bad), err, sizeof err) == RMQB_ERR_INVALID);

    /* Stop with a deadline: everything was confirmed, nothing unsent. */
    CHECK(rmqb_stop(NULL, 1000, NULL, NULL, 0) == RMQB_ERR_INVALID);
    rmqb_report_t rep;
    char report_text[2048];
    int32_t st = rmqb_stop(b, 5000, &rep, report_text, sizeof report_text);
    if (st != RMQB_OK) {
        fprintf(stderr, "c-abi: stop: %s: %s\n", rmqb_status_name(st), report_text);
        return 1;
    }
    CHECK(rep.drained == 1 && rep.unsent == 0 && rep.counters.sent == 7);
    CHECK(strstr(report_text, "shutdown in") != NULL);

    int logged = atomic_load(&logs);
    CHECK(logged > 0);
    CHECK(rmqb_set_log_callback(NULL, NULL, RMQB_LOG_OFF) == RMQB_OK);
    printf("c-abi: ok events=7 sent=%llu outcomes=%d logs=%d abi=%u.%u version=%s\n",
           (unsigned long long)rep.counters.sent, atomic_load(&outcomes), logged, abi >> 16,
           abi & 0xffff, rmqb_version());
    return 0;
}
