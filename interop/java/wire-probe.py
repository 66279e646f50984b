#!/usr/bin/env python3
"""Wire probe: sends hand-built remoting frames to a running name server and broker and prints, for
each check, the request and the answer as Markdown (used for docs/protocol-notes.md).

    python3 interop/java/wire-probe.py --env DIR/env      # the env file written by scripts/rocketmq*.sh

Each request goes on a fresh connection, so a peer that closes the connection affects one check only.
Every socket operation has a timeout; the whole run is bounded (a dozen requests of at most 5 s).
"""
import argparse
import json
import socket
import struct
import time

TIMEOUT = 5.0


def frame_json(header, body=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">II", 4 + len(h) + len(body), len(h)) + h + body


def frame_binary(code, lang, version, opaque, flag, ext, body=b""):
    h = struct.pack(">hbhii", code, lang, version, opaque, flag) + struct.pack(">i", 0)
    block = b""
    for k, v in ext.items():
        kb, vb = k.encode(), v.encode()
        block += struct.pack(">h", len(kb)) + kb + struct.pack(">i", len(vb)) + vb
    h += struct.pack(">i", len(block)) + block
    return struct.pack(">II", 4 + len(h) + len(body), (1 << 24) | len(h)) + h + body


def decode_binary_header(h):
    code, lang, version, opaque, flag, rlen = struct.unpack(">hbhiii", h[:17])
    pos = 17
    remark = h[pos:pos + rlen].decode() if rlen else None
    pos += rlen
    (elen,) = struct.unpack(">i", h[pos:pos + 4])
    pos += 4
    ext, end = {}, pos + elen
    while pos < end:
        (kl,) = struct.unpack(">h", h[pos:pos + 2])
        k = h[pos + 2:pos + 2 + kl].decode()
        pos += 2 + kl
        (vl,) = struct.unpack(">i", h[pos:pos + 4])
        ext[k] = h[pos + 4:pos + 4 + vl].decode()
        pos += 4 + vl
    return {"code": code, "language": lang, "version": version, "opaque": opaque, "flag": flag,
            "remark": remark, "extFields": ext}


def call(addr, frame):
    host, port = addr.rsplit(":", 1)
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(frame)
            buf = b""
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return "connection closed by the peer without an answer (after %.0f ms)" % (
                        (time.monotonic() - t0) * 1000)
                buf += chunk
    except socket.timeout:
        return "no answer within %.0f s" % TIMEOUT
    except OSError as e:
        return "socket error: %s" % e
    total, word = struct.unpack(">II", buf[:8])
    hlen, stype = word & 0xFFFFFF, word >> 24
    header = buf[8:8 + hlen]
    body = buf[8 + hlen:4 + total]
    if stype == 0:
        desc = "type byte 0 (JSON) header `%s`" % header.decode()
    else:
        desc = "type byte %d (ROCKETMQ) header %s" % (stype, json.dumps(decode_binary_header(header)))
    if body:
        text = body.decode(errors="replace")
        desc += "; body (%d bytes) `%s`" % (len(body), text if len(text) <= 400 else text[:400] + "…")
    return desc


def hdr(code, ext=None, version=401, language="JAVA", stcr=True, opaque=1, **extra):
    h = {"code": code, "flag": 0, "language": language, "opaque": opaque, "version": version}
    if ext is not None:
        h["extFields"] = ext
    if stcr:
        h["serializeTypeCurrentRPC"] = "JSON"
    h.update(extra)
    return h


def send_v2_ext(topic, **override):
    ext = {"a": "probe_group", "b": topic, "c": "TBW102", "d": "4", "e": "0", "f": "0",
           "g": str(int(time.time() * 1000)), "h": "0",
           "i": "UNIQ_KEY\u00017F0000011234000000000A3B1C2D0001\u0002WAIT\u0001true\u0002",
           "j": "0", "k": "false", "m": "false"}
    for k, v in override.items():
        if v is None:
            ext.pop(k, None)
        else:
            ext[k] = v
    return ext


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    args = ap.parse_args()
    env = dict(line.strip().split("=", 1) for line in open(args.env) if "=" in line)
    ns, br = env["RMQ_NAMESRV_1"], env["RMQ_BROKER_1"]
    topic = "ProbeTopic%d" % (int(time.time()) % 100000)
    checks = [
        ("name server: route TBW102, JSON header, version 401, with serializeTypeCurrentRPC", ns,
         frame_json(hdr(105, {"topic": "TBW102"}))),
        ("name server: same without serializeTypeCurrentRPC", ns,
         frame_json(hdr(105, {"topic": "TBW102"}, stcr=False))),
        ("name server: minimal header (no language, version, flag, serializeTypeCurrentRPC) → version 0", ns,
         frame_json({"code": 105, "extFields": {"topic": "TBW102"}, "opaque": 7})),
        ("name server: route TBW102, binary ROCKETMQ header, RUST, version 401", ns,
         frame_binary(105, 12, 401, 8, 0, {"topic": "TBW102"})),
        ("name server: unknown language name", ns,
         frame_json(hdr(105, {"topic": "TBW102"}, language="KLINGON"))),
        ("name server: unknown request code 9999", ns, frame_json(hdr(9999, {}))),
        ("name server: unknown topic", ns, frame_json(hdr(105, {"topic": "NoSuchTopic42"}))),
        ("broker: SEND_MESSAGE_V2 to a new topic (auto-create from TBW102)", br,
         frame_json(hdr(310, send_v2_ext(topic)), b"hello")),
        ("broker: SEND_MESSAGE_V2, binary ROCKETMQ header", br,
         frame_binary(310, 12, 401, 9, 0, send_v2_ext(topic), b"hello")),
        ("broker: GET_MAX_OFFSET with queueId as a JSON number", br,
         frame_json(hdr(30, {"topic": topic, "queueId": 0}))),
        ("broker: SEND_MESSAGE_V2 with boolean k=\"0\"", br,
         frame_json(hdr(310, send_v2_ext(topic, k="0")), b"hello")),
        ("broker: SEND_MESSAGE_V2 without required d (defaultTopicQueueNums)", br,
         frame_json(hdr(310, send_v2_ext(topic, d=None)), b"hello")),
        ("broker: SEND_MESSAGE_V2 with numbers for d, e, f, h, j (as the EMQX Erlang client sends)", br,
         frame_json(hdr(310, dict(send_v2_ext(topic), d=4, e=0, f=0, h=0, j=0)), b"hello")),
        ("broker: SEND_MESSAGE_V2 with an empty topic", br,
         frame_json(hdr(310, send_v2_ext(""), opaque=3), b"hello")),
        ("broker: unknown request code 9999", br, frame_json(hdr(9999, {}))),
    ]
    print("Probed %s %s (name server %s, broker %s) on %s" % (
        env.get("RMQ_IMPL", "?"), env.get("RMQ_VERSION", ""), ns, br, time.strftime("%Y-%m-%d")))
    for title, addr, frame in checks:
        print()
        print("* %s" % title)
        stype = frame[4]
        if stype == 0:
            hl = struct.unpack(">I", frame[4:8])[0] & 0xFFFFFF
            print("  - request: `%s`%s" % (frame[8:8 + hl].decode(), " + body `hello`" if len(frame) > 8 + hl else ""))
        else:
            print("  - request (hex): `%s`" % frame.hex())
        print("  - answer: %s" % call(addr, frame))


if __name__ == "__main__":
    main()
