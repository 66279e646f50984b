#!/usr/bin/env bash
# Fails when a workspace package has a direct normal (non-dev, non-build) dependency that is not in
# .ci/allowed-deps.txt, or when env_logger has its default features on.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -d '' CHECK <<'PY' || true
import json, sys
allowed = {l.strip() for l in open(".ci/allowed-deps.txt") if l.strip() and not l.startswith("#")}
meta = json.load(sys.stdin)
bad, n = [], 0
for pkg in meta["packages"]:
    for d in pkg["dependencies"]:
        if d.get("kind") is not None:  # "dev" or "build"
            continue
        n += 1
        if d["name"] not in allowed:
            bad.append("%s: dependency %s is not in .ci/allowed-deps.txt" % (pkg["name"], d["name"]))
        if d["name"] == "env_logger" and d.get("uses_default_features", True):
            bad.append("%s: env_logger must have default-features = false" % pkg["name"])
for b in bad:
    print("check-deps: " + b, file=sys.stderr)
if bad:
    sys.exit(1)
print("check-deps: %d direct dependencies of %d package(s), all allowed" % (n, len(meta["packages"])))
PY
cargo metadata --locked --format-version 1 --no-deps | python3 -c "$CHECK"
