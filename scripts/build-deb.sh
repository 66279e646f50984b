#!/usr/bin/env bash
# Builds the Debian package target/debian/rocketmq-bridge_<version>-1_<arch>.deb with cargo-deb (a build
# tool from crates.io, installed here when missing; nothing of it ends up in the package): the release
# binary, the config as a conffile, the systemd unit, the man page and the observability files
# (Cargo.toml [package.metadata.deb]). Not run by CI (a release build with LTO takes minutes).
#
#   scripts/build-deb.sh            build the package
#   scripts/build-deb.sh --check    also install it, verify the installed unit, show --version, remove it
#                                   (dpkg -r: the config stays) and purge it; needs root, changes this machine
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
t0=$SECONDS
cargo deb --locked
deb=$(ls -t target/debian/rocketmq-bridge_*.deb | head -1)
echo "build-deb: $deb ($(stat -c %s "$deb") bytes) in $((SECONDS - t0)) s"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"

[ "${1:-}" = --check ] || exit 0
[ "$(id -u)" = 0 ] || { echo "build-deb: --check needs root" >&2; exit 1; }
conf=/etc/rocketmq-bridge/emqx_bridge_rocket.conf
set -x
dpkg -i "$deb"
rocketmq-bridge --version
getent passwd rocketmq-bridge
ls -l "$conf"
systemd-analyze verify /usr/lib/systemd/system/rocketmq-bridge.service
man -w rocketmq-bridge
# An operator's edit of the conffile survives removal.
echo "## edited by build-deb.sh --check" >> "$conf"
dpkg -r rocketmq-bridge
[ ! -e /usr/bin/rocketmq-bridge ]
grep -q "edited by build-deb.sh --check" "$conf"
dpkg -s rocketmq-bridge | grep -E '^Status: deinstall ok config-files'
dpkg --purge rocketmq-bridge
[ ! -e "$conf" ]
set +x
echo "build-deb: install, verify, --version, remove (config kept), purge: ok"
