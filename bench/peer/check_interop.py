#!/usr/bin/env python3
"""Field-by-field checks for scripts/interop-java.sh. Exit status 1 on any mismatch.

  check_interop.py bridge --events EVENTS.ndjson --java JAVA.jsonl --ours OURS.jsonl --node NODE --bridge-id ID --tag-suffix S
      Every event of EVENTS (the bridge's input) must have arrived at the Java push consumer exactly
      once (deduplicated by msg_id) on the seed's topic for its hook, with the body the seed shows for
      it (fields, order and values; payload base64), the tag "<Topic><S>" set in the rules, a key
      "<ID>-..." and the mqtt_* properties; and our own `consume` (OURS) must read the same message
      (same msg_id) with the same body, keys, tags and user properties.

  check_interop.py java2ours --sent SENT.jsonl --ours OURS.jsonl
      Every message the Java DefaultMQProducer sent (SENT, as it printed them) must be read by our
      `consume` (OURS) with the same msg_id, body, keys, tags and user properties.
"""
import argparse
import base64
import json
import sys

# The seed's hooks: event -> (RocketMQ topic, body fields in the seed's order).
SEED = {
    "client.connected": ("ClientConnected", ["client_id", "username", "node", "ts"]),
    "client.disconnected": ("ClientDisconnected", ["client_id", "username", "reason", "node", "ts"]),
    "session.subscribed": ("SessionSubscribed", ["client_id", "topic", "qos", "node", "ts"]),
    "session.unsubscribed": ("SessionUnsubscribed", ["client_id", "topic", "qos", "node", "ts"]),
    "message.publish": ("MessagePublish", ["client_id", "username", "topic", "payload", "qos", "node", "ts"]),
    "message.delivered": ("MessageDeliver", ["client_id", "username", "from", "topic", "payload", "qos", "node", "ts"]),
    "message.acked": ("MessageAcked", ["client_id", "username", "from", "topic", "payload", "qos", "node", "ts"]),
}
# Properties the broker or the client library adds; not part of what the producer sent.
SYSTEM_PROPS = {"UNIQ_KEY", "KEYS", "TAGS", "WAIT", "MIN_OFFSET", "MAX_OFFSET", "CONSUME_START_TIME",
                "TRACE_ON", "MSG_REGION", "CLUSTER", "__BORNHOST", "BORNHOST"}

errors = []


def err(msg):
    errors.append(msg)
    print("MISMATCH: " + msg)


def load_jsonl(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                err(f"{path}:{n}: not JSON ({e})")
    return out


def user_props(m):
    return {k: v for k, v in m.get("properties", {}).items() if k not in SYSTEM_PROPS}


def by_msg_id(msgs, who):
    """Messages by msg_id (UNIQ_KEY). A second copy with the same msg_id is a retried send stored
    twice (at-least-once) or a redelivery: it must carry the same content, and is reported."""
    out = {}
    for m in msgs:
        mid = m.get("msg_id")
        if mid in out:
            first = out[mid]
            print(f"note: {who}: msg_id {mid} seen again ({m.get('topic')} queue {first.get('queue')} offset "
                  f"{first.get('offset')} and queue {m.get('queue')} offset {m.get('offset')}): a retried send "
                  f"stored twice or a redelivery; the same UNIQ_KEY lets consumers deduplicate")
            same_message(first, m, f"{who}: the two copies of msg_id {mid}")
        out.setdefault(mid, m)
    return out


def same_message(a, b, what):
    for field in ("topic", "body", "keys", "tags"):
        if a.get(field) != b.get(field):
            err(f"{what}: {field} differs: {a.get(field)!r} vs {b.get(field)!r}")
    if user_props(a) != user_props(b):
        err(f"{what}: user properties differ: {user_props(a)} vs {user_props(b)}")


def expected_body(ev, node):
    fields = SEED[ev["event"]][1]
    out = []
    for f in fields:
        if f == "node":
            v = node
        elif f == "payload":
            if "payload_base64" in ev:
                v = ev["payload_base64"]
            elif ev.get("payload") is not None:
                v = base64.b64encode(ev["payload"].encode()).decode()
            else:
                v = None
        else:
            v = ev.get(f)
        out.append((f, v))
    return out


def check_bridge(a):
    events = load_jsonl(a.events)
    java = by_msg_id(load_jsonl(a.java), "java consumer")
    ours = by_msg_id(load_jsonl(a.ours), "our consume")
    print(f"bridge input: {len(events)} events; java consumer: {len(java)} messages; our consume: {len(ours)} messages")
    used = set()
    topics_seen = set()
    for i, ev in enumerate(events, 1):
        kind = ev.get("event")
        if kind not in SEED:
            err(f"event {i}: unknown event {kind!r} in the input")
            continue
        topic = SEED[kind][0]
        want = expected_body(ev, a.node)
        # The candidate is the Java-received message on the topic whose body has the event's ts and client_id.
        cands = []
        for mid, m in java.items():
            if m["topic"] != topic or mid in used or m.get("body") is None:
                continue
            try:
                pairs = json.loads(m["body"], object_pairs_hook=list)
            except ValueError:
                continue
            d = dict(pairs)
            if d.get("ts") == ev.get("ts") and d.get("client_id") == ev.get("client_id"):
                cands.append((mid, m, pairs))
        what = f"event {i} ({kind} -> {topic})"
        if not cands:
            err(f"{what}: the Java consumer did not receive it")
            continue
        if len(cands) > 1:
            err(f"{what}: the Java consumer received {len(cands)} distinct messages for it")
        mid, m, pairs = cands[0]
        used.add(mid)
        topics_seen.add(topic)
        got_names = [k for k, _ in pairs]
        want_names = [k for k, _ in want]
        if got_names != want_names:
            err(f"{what}: body fields {got_names} != the seed's {want_names}")
        got = dict(pairs)
        for k, v in want:
            if k in got and got[k] != v:
                err(f"{what}: body field {k!r} = {got[k]!r}, expected {v!r}")
        if m.get("tags") != topic + a.tag_suffix:
            err(f"{what}: tag {m.get('tags')!r}, expected {topic + a.tag_suffix!r}")
        keys = m.get("keys") or []
        if not keys or not all(k.startswith(a.bridge_id + "-") for k in keys):
            err(f"{what}: keys {keys!r}, expected one key starting with {a.bridge_id + '-'!r}")
        props = user_props(m)
        if props.get("mqtt_event") != kind:
            err(f"{what}: property mqtt_event {props.get('mqtt_event')!r}, expected {kind!r}")
        if ev.get("client_id") is not None and props.get("mqtt_client_id") != ev["client_id"]:
            err(f"{what}: property mqtt_client_id {props.get('mqtt_client_id')!r}, expected {ev['client_id']!r}")
        if ev.get("topic") is not None and props.get("mqtt_topic") != ev["topic"]:
            err(f"{what}: property mqtt_topic {props.get('mqtt_topic')!r}, expected {ev['topic']!r}")
        if ev.get("qos") is not None and props.get("mqtt_qos") != str(ev["qos"]):
            err(f"{what}: property mqtt_qos {props.get('mqtt_qos')!r}, expected {str(ev['qos'])!r}")
        o = ours.get(mid)
        if o is None:
            err(f"{what}: our consume did not read msg_id {mid}")
        else:
            same_message(m, o, f"{what} java vs ours")
        print(f"ok  {topic:<20} tag={m.get('tags')} keys={keys} body={m['body']}")
    extra = [mid for mid in java if mid not in used]
    if extra:
        err(f"the Java consumer received {len(extra)} messages no input event explains: {extra[:5]}")
    missing_topics = {t for t, _ in SEED.values()} - topics_seen
    if missing_topics and len(events) >= 7:
        err(f"no message on seed topics {sorted(missing_topics)}")


def check_java2ours(a):
    sent = load_jsonl(a.sent)
    ours = by_msg_id(load_jsonl(a.ours), "our consume")
    print(f"java producer sent {len(sent)} messages; our consume read {len(ours)}")
    for s in sent:
        o = ours.get(s["msg_id"])
        if o is None:
            err(f"msg_id {s['msg_id']} (sent by Java) not read by our consume")
            continue
        same_message(s, o, f"msg_id {s['msg_id']}")
        if o.get("queue") != s.get("queue") or o.get("offset") != s.get("offset"):
            err(f"msg_id {s['msg_id']}: queue/offset {o.get('queue')}/{o.get('offset')} vs sent {s.get('queue')}/{s.get('offset')}")
    extra = set(ours) - {s["msg_id"] for s in sent}
    if extra:
        err(f"our consume read {len(extra)} messages the Java producer did not send")
    if not sent:
        err("the Java producer sent nothing")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bridge")
    for o in ("--events", "--java", "--ours", "--node", "--bridge-id", "--tag-suffix"):
        b.add_argument(o, required=True)
    j = sub.add_parser("java2ours")
    j.add_argument("--sent", required=True)
    j.add_argument("--ours", required=True)
    a = ap.parse_args()
    (check_bridge if a.cmd == "bridge" else check_java2ours)(a)
    if errors:
        print(f"FAILED: {len(errors)} mismatches")
        sys.exit(1)
    print("all fields match")


if __name__ == "__main__":
    main()
