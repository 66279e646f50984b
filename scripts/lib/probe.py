"""The cluster scripts' one Python helper (scripts/lib/cluster.sh): free loopback ports and readiness.

  probe.py ports COUNT OFFSET...     prints COUNT base ports b such that every b+OFFSET is bindable on
                                     127.0.0.1, below the kernel's ephemeral range (so outgoing connections
                                     cannot take them)
  probe.py alive ADDR                exit 0 when ADDR answers a remoting request at all (any code)
  probe.py route ADDR NAME=ADDR...   exit 0 when the name server at ADDR answers GET_ROUTEINFO_BY_TOPIC(TBW102)
                                     with code 0 and a route naming every listed broker at its address
"""
import json
import os
import random
import re
import socket
import ssl
import struct
import sys


def ports(count, offsets):
    lo, hi = 11000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = min(hi, int(f.read().split()[0]) - 10)
    except (OSError, ValueError):
        pass
    span_lo, span_hi = min(offsets + [0]), max(offsets + [0])
    used, out = set(), []
    rng = random.SystemRandom()
    for _ in range(2000):
        if len(out) == count:
            break
        base = rng.randrange(lo - span_lo, hi - span_hi)
        block = [base + o for o in offsets]
        if any(p in used for p in block):
            continue
        ok, socks = True, []
        for p in block:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
                break
        for s in socks:
            s.close()
        if ok:
            used.update(block)
            out.append(base)
    if len(out) != count:
        sys.exit("no free loopback ports found")
    print(" ".join(map(str, out)))


def connect(host, port):
    """A socket to the server; TLS (no verification) when RMQ_PROBE_TLS_DIR names the cluster's certificates."""
    s = socket.create_connection((host, port), timeout=3)
    tls_dir = os.environ.get("RMQ_PROBE_TLS_DIR", "")
    if not tls_dir:
        return s
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if os.environ.get("RMQ_PROBE_TLS_CLIENT_AUTH") == "1":
        ctx.load_cert_chain(os.path.join(tls_dir, "client.pem"), os.path.join(tls_dir, "client.key"))
    return ctx.wrap_socket(s)


def call(addr, code, ext):
    """One JSON-header request; returns (header, body), header {"code": -1} for a binary-header answer."""
    host, port = addr.rsplit(":", 1)
    hdr = json.dumps({"code": code, "extFields": ext, "flag": 0, "language": "JAVA", "opaque": 1,
                      "serializeTypeCurrentRPC": "JSON", "version": 401}, separators=(",", ":")).encode()
    with connect(host, int(port)) as s:
        s.settimeout(3)
        s.sendall(struct.pack(">II", 4 + len(hdr), len(hdr)) + hdr)

        def recv(n):
            b = b""
            while len(b) < n:
                c = s.recv(n - len(b))
                if not c:
                    raise EOFError("closed")
                b += c
            return b

        total, word = struct.unpack(">II", recv(8))
        if total > 16 << 20 or total < 4:
            raise ValueError("frame length %d" % total)
        rest = recv(total - 4)
    if word >> 24 != 0:
        return {"code": -1}, b""
    hlen = word & 0xFFFFFF
    return json.loads(rest[:hlen]), rest[hlen:]


def route_brokers(body):
    """brokerName -> set of addresses; the body may use bare integer keys ({0:"a"})."""
    text = body.decode("utf-8", "replace")
    try:
        route = json.loads(text)
    except ValueError:
        route = json.loads(re.sub(r'([{,])\s*(-?\d+)\s*:', r'\1"\2":', text))
    return {bd.get("brokerName"): set(map(str, bd.get("brokerAddrs", {}).values()))
            for bd in route.get("brokerDatas", [])}


def main(argv):
    mode = argv[1]
    if mode == "ports":
        ports(int(argv[2]), [int(x) for x in argv[3:]])
        return 0
    try:
        h, body = call(argv[2], 105, {"topic": "TBW102"})
        if mode == "alive":
            return 0
        if h.get("code") != 0:
            return 1
        have = route_brokers(body)
        for want in argv[3:]:
            name, addr = want.split("=", 1)
            if addr not in have.get(name, set()):
                return 1
        return 0
    except (OSError, EOFError, ValueError, KeyError, AttributeError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
