#!/usr/bin/env bash
# Fails when a workspace package has a direct normal (non-dev, non-build) dependency that is not in
# .ci/allowed-deps.txt, when env_logger has its default features on, or when a dependency the list allows only
# behind a feature (`NAME feature=FEATURE`) is not optional or is enabled by anything but that feature (a default
# feature, another feature): the default build's crate set stays as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -d '' CHECK <<'PY' || true
import json, sys
allowed, gated = set(), {}
for l in open(".ci/allowed-deps.txt"):
    if not l.strip() or l.startswith("#"):
        continue
    name, *opts = l.split()
    allowed.add(name)
    for o in opts:
        if o.startswith("feature="):
            gated[name] = o[len("feature="):]
meta = json.load(sys.stdin)
bad, n = [], 0
for pkg in meta["packages"]:
    feats = pkg.get("features", {})
    for d in pkg["dependencies"]:
        if d.get("kind") is not None:  # "dev" or "build"
            continue
        n += 1
        if d["name"] not in allowed:
            bad.append("%s: dependency %s is not in .ci/allowed-deps.txt" % (pkg["name"], d["name"]))
        if d["name"] in gated:
            want = gated[d["name"]]
            if not d.get("optional"):
                bad.append("%s: %s is allowed only as an optional dependency (feature %s)"
                           % (pkg["name"], d["name"], want))
            for f, items in feats.items():
                if f != want and any(i.split("/")[0].split("?")[0] in (d["name"], "dep:" + d["name"])
                                     for i in items):
                    bad.append("%s: feature %s enables %s, which only feature %s may"
                               % (pkg["name"], f, d["name"], want))
            # The default features, followed through the features they enable, leave it out.
            seen, todo = set(), ["default"]
            while todo:
                f = todo.pop()
                if f in seen or f not in feats:
                    continue
                seen.add(f)
                todo.extend(i.split("/")[0].split("?")[0] for i in feats[f])
            if want in seen:
                bad.append("%s: the default features enable %s (feature %s must stay opt-in)"
                           % (pkg["name"], d["name"], want))
        if d["name"] == "env_logger" and d.get("uses_default_features", True):
            bad.append("%s: env_logger must have default-features = false" % pkg["name"])
for b in bad:
    print("check-deps: " + b, file=sys.stderr)
if bad:
    sys.exit(1)
print("check-deps: %d direct dependencies of %d package(s), all allowed" % (n, len(meta["packages"])))
PY
cargo metadata --locked --format-version 1 --no-deps | python3 -c "$CHECK"
