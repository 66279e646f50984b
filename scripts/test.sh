#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (rocketmq-rust 1.0 from crates.io,
# Apache RocketMQ 5.5.0 and its rocketmq-proxy from Maven Central, mosquitto 2.0 from Debian, aedes from npm), then runs every
# test against the rocketmq-rust broker, and the integration suites of the remoting layer, the producer and the
# bridge a second time against the Apache RocketMQ 5.x (Java) broker.
#
#   scripts/test.sh            CI sizes
#   TEST_SCALE=full scripts/test.sh    the issues' full sizes (10,000 messages per producer mode, ...)
#   RMQ_SUITES=rust scripts/test.sh    only the rocketmq-rust run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
suites=${RMQ_SUITES:-rust,java5}

bash scripts/rocketmq.sh install
if [[ ",$suites," == *",java5,"* ]]; then
    command -v java >/dev/null && command -v mvn >/dev/null || { echo "test.sh: java and mvn are needed" >&2; exit 1; }
    # --proxy: rocketmq-proxy too, for real::proxy (its own jars, next to the broker's).
    bash scripts/rocketmq-java.sh install --impl java5 --proxy
fi
if ! command -v mosquitto >/dev/null || [ ! -f /usr/include/mosquitto_broker.h ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
    fi
fi
# The C ABI's test host runs under valgrind (capi/tests/c_abi.rs).
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
    fi
fi
# A packaged mosquitto may start a system broker on 1883; the tests start their own on free ports.
systemctl stop mosquitto 2>/dev/null || true
# aedes (npm), the second real MQTT broker of tests/mqtt/ (Node.js 20 or later; about 2 s when not cached).
bash scripts/aedes.sh install >/dev/null

# A hung test must fail the run, not outlast it: each cargo test run has a bound (seconds; the full sizes
# need more, so TEST_SCALE=full raises them).
if [ "${TEST_SCALE:-}" = full ]; then
    export TEST_TIMEOUT_RUST=${TEST_TIMEOUT_RUST:-5400} TEST_TIMEOUT_JAVA=${TEST_TIMEOUT_JAVA:-3000}
fi
# Brokers refuse a nearly full disk and may store in /dev/shm (see scripts/store-place.sh); say how
# much of both there is.
{ df -h . /dev/shm; free -m; } 2>/dev/null | sed 's/^/test.sh: /' || true

if [[ ",$suites," == *",rust,"* ]]; then
    echo "=== all tests, rocketmq-rust 1.0 broker"
    RMQ_IMPL=rust timeout --kill-after=30 "${TEST_TIMEOUT_RUST:-2400}" cargo test --locked --workspace
fi
if [[ ",$suites," == *",java5,"* ]]; then
    echo "=== integration suites, Apache RocketMQ 5.5.0 (Java) broker"
    # The `real` module of each layer's test binary (what used to be remoting_real, producer_real and
    # bridge_real); the filter leaves out the fake-peer and offline modules of those binaries. It takes
    # real::proxy, which starts its own cluster with rocketmq-proxy 5.5.0 in front of two brokers.
    RMQ_IMPL=java5 timeout --kill-after=30 "${TEST_TIMEOUT_JAVA:-1200}" \
        cargo test --locked --test remoting --test producer --test bridge -- real::
    echo "=== TLS (--features tls), Apache RocketMQ 5.5.0 started TLS-only"
    # real::tls starts its own TLS-only Java clusters (scripts/rocketmq-java.sh start --tls), one at a time.
    timeout --kill-after=30 "${TEST_TIMEOUT_TLS:-600}" \
        cargo test --locked --features tls --test bridge -- real::tls
    # `rocketmq-bridge mqtt` over TLS to a mosquitto TLS listener (no RocketMQ needed: it spools).
    timeout --kill-after=30 "${TEST_TIMEOUT_TLS:-600}" \
        cargo test --locked --features tls --test mqtt -- source::over_tls
fi
