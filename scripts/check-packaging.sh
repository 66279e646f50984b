#!/usr/bin/env bash
# Checks the service files in packaging/ (run by .ci/run):
#   - the systemd unit with `systemd-analyze verify` (Debian's systemd package), ExecStart pointed
#     at the binary built here (the unit names /usr/bin/rocketmq-bridge, where the package puts it);
#   - the Prometheus alert rules with `promtool check rules` (Debian's prometheus package);
#   - every query of the Grafana dashboard, as recording rules through the same promtool check
#     (Grafana's $__rate_interval and $instance replaced by 5m and .*).
# Installs systemd-analyze and promtool with apt-get when missing (prometheus: about 19 MB download,
# 23 s measured; its daemon is not started). That the metric names exist is tests/bridge/observe.rs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v promtool >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
    # A packaged prometheus may have been started; nothing here needs it.
    $sudo systemctl stop prometheus 2>/dev/null || true
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --locked --quiet --bin rocketmq-bridge
bin="$PWD/target/debug/rocketmq-bridge"
sed "s|/usr/bin/rocketmq-bridge|$bin|g" packaging/rocketmq-bridge.service > "$tmp/rocketmq-bridge.service"
# --man=no: the man page is checked once installed (scripts/build-deb.sh), not from the tree.
out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/rocketmq-bridge.service" 2>&1) || {
    echo "$out" >&2
    echo "check-packaging: systemd-analyze verify failed" >&2
    exit 1
}
# verify exits 0 on some warnings (unknown keys); any output is a finding.
if [ -n "$out" ]; then
    echo "$out" >&2
    echo "check-packaging: systemd-analyze verify printed warnings" >&2
    exit 1
fi
echo "check-packaging: systemd-analyze verify packaging/rocketmq-bridge.service: ok"

promtool check rules packaging/prometheus/rocketmq-bridge.rules.yml

python3 - "$tmp/dashboard-rules.yml" <<'PY'
import json, sys
d = json.load(open("packaging/grafana/rocketmq-bridge.json"))
rules = []
for p in d["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*")
        rules.append({"record": "dashboard:panel_%d_%s" % (p["id"], t["refId"].lower()), "expr": e})
# JSON is YAML: promtool reads it as a rules file.
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[1], "w"), indent=1)
print("check-packaging: %d dashboard queries in %d panels" % (len(rules), len(d["panels"])))
PY
promtool check rules "$tmp/dashboard-rules.yml"
