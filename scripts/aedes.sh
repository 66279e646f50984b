#!/usr/bin/env bash
# aedes 1.2.0 (npm), the second real MQTT broker of the MQTT tests (interop/aedes/).
#
#   bash scripts/aedes.sh install    install it (npm ci from interop/aedes/package-lock.json) into the cache,
#                                    unless there; prints the directory to pass as broker.mjs --modules
#   bash scripts/aedes.sh dir        prints that directory (exit 1 when not installed)
#
# Needs Node.js >= 20 and npm. Environment: ROCKETMQ_CACHE (default $HOME/.cache/rocketmq-bridge).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}
SRC="$ROOT/interop/aedes"
# The directory name carries a hash of the lock file, so a changed pin installs anew.
HASH=$(sha256sum "$SRC/package-lock.json" | cut -c1-12)
DIR="$CACHE/aedes-$HASH"
die() { echo "aedes.sh: $*" >&2; exit 1; }

installed() { [ -f "$DIR/node_modules/aedes/aedes.js" ]; }

case "${1:-}" in
    install)
        if ! installed; then
            command -v node >/dev/null || die "node not found (Node.js 20 or later is needed)"
            command -v npm >/dev/null || die "npm not found"
            major=$(node -p 'process.versions.node.split(".")[0]')
            [ "$major" -ge 20 ] || die "Node.js $major is too old (aedes 1.2 needs 20 or later)"
            mkdir -p "$CACHE"
            exec 9>"$CACHE/aedes.lock"
            flock -w 600 9 || die "timed out waiting for another install (lock $CACHE/aedes.lock)"
            if ! installed; then
                tmp="$DIR.tmp.$$"
                rm -rf "$tmp"
                mkdir -p "$tmp"
                cp "$SRC/package.json" "$SRC/package-lock.json" "$tmp/"
                (cd "$tmp" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2) \
                    || { rm -rf "$tmp"; die "npm ci failed"; }
                rm -rf "$DIR"
                mv "$tmp" "$DIR"
            fi
        fi
        echo "$DIR"
        ;;
    dir)
        installed || die "not installed (bash scripts/aedes.sh install)"
        echo "$DIR"
        ;;
    *)
        die "usage: aedes.sh install|dir"
        ;;
esac
