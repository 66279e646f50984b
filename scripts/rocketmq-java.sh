#!/usr/bin/env bash
# Apache RocketMQ (the Java reference implementation, from Maven Central) as a real broker for tests: this backend
# installs and launches it; the commands, flags, env file, watchdog and port picking are scripts/lib/cluster.sh's
# (read it for the whole interface), the same as scripts/rocketmq.sh's:
#
#   rocketmq-java.sh install      [--impl java5|java4] [--proxy]
#   rocketmq-java.sh start        --dir DIR [--namesrvs N] [--brokers M] [--slaves] [--acl USER:SECRET]
#                                 [--impl java5|java4] [--watch-pid PID] [--tls CERTDIR [--tls-client-auth]]
#                                 [--proxy]
#   rocketmq-java.sh stop         --dir DIR
#   rocketmq-java.sh kill-broker  --dir DIR --index I [--signal KILL|TERM]      (default KILL)
#   rocketmq-java.sh start-broker --dir DIR --index I
#   rocketmq-java.sh kill-namesrv --dir DIR --index I [--signal KILL|TERM]      (default KILL)
#   rocketmq-java.sh start-namesrv --dir DIR --index I
#
# `install` resolves the pinned release with mvn (interop/java/broker/pom.xml) into
# ${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}/java-<version>/lib, reuses it afterwards, and prints that
# directory; `start` installs when needed. The servers are plain `java` processes (pids in DIR/<kind>-<i>/pid,
# output in DIR/<kind>-<i>/stdout.log, logs under DIR/<kind>-<i>/home/logs). DIR/env:
#   RMQ_IMPL, RMQ_VERSION, RMQ_NAMESRV (a;b), RMQ_NAMESRV_COUNT, RMQ_NAMESRV_<i>, RMQ_BROKER_COUNT, RMQ_BROKER_<i>,
#   RMQ_BROKER_<i>_NAME, RMQ_CLUSTER, RMQ_SLAVE_COUNT (and with --slaves RMQ_SLAVE_<i>, RMQ_SLAVE_<i>_NAME),
#   RMQ_PROXY_COUNT (and with --proxy RMQ_PROXY_1 = RMQ_PROXY, the proxy's remoting address)
#
# `--proxy` (java5 only) also starts rocketmq-proxy 5.5.0 in cluster mode (resolved with mvn from
# interop/java/proxy/pom.xml into ${ROCKETMQ_CACHE}/java-<version>-proxy/lib, apart from the broker's jars):
# DIR/proxy-1/rmq-proxy.json sets its remoting port (what clients use as their name server), its gRPC port
# (remoting port + 1) and the name servers; pid in DIR/proxy-1/pid, output in DIR/proxy-1/stdout.log.
#
# Environment knobs: ROCKETMQ_CACHE, RMQ_MAX_LIFETIME (default 7200), RMQ_READY_TIMEOUT (seconds, default 180),
# RMQ_NAMESRV_JAVA_OPTS, RMQ_BROKER_JAVA_OPTS, RMQ_PROXY_JAVA_OPTS, RMQ_JAVA (java binary), RMQ_TLS_SERVER_MODE (with --tls: enforcing,
# the default, or permissive, which also takes plaintext clients: a benchmark's TLS-versus-plaintext comparison on
# one broker).
set -euo pipefail

ME=rocketmq-java.sh
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rocketmq-java.sh
DEFAULT_IMPL=java5
IMPLS="java5 java4"
# A name server listens on its port; a broker on its port, port-2 (fast/VIP channel) and port+1 (HA); port-1 is
# kept free as well. The proxy takes its ports from the same pick: remoting on the port, gRPC on port+1.
NS_OFFSETS=(0)
BR_OFFSETS=(0 -2 -1 1)
READY_DEFAULT=180
# --slaves: each master gets a slave (brokerId 1, role SLAVE, its own listen/HA ports and store, DIR/slave-<i>);
# it finds its master's HA port through the name server (the master registers haServerAddr).
SLAVES_SUPPORTED=1
# --acl (5.x only): ACL 2.0 authentication in broker.conf (see write_broker_config).
ACL_SUPPORTED=1
# --tls: JVM options (TlsSystemConfig's system properties), not broker.conf: tls.server.mode=enforcing on every
# server, tls.enable=true on brokers (their client to the name servers), test mode off so the given files are used.
TLS_SUPPORTED=1
# --proxy: rocketmq-proxy in cluster mode in front of the brokers (5.x only; see backend_check).
PROXY_SUPPORTED=1
# shellcheck source=lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

# Pinned releases. 5.5.1 is listed on Maven Central but rocketmq-namesrv/-client/-auth 5.5.1 jars are
# missing there, so 5.5.0 is the newest 5.x that resolves; 4.9.8's broker jar is not on Maven Central,
# so 4.9.7 is the last 4.9.x that resolves.
JAVA5_VERSION=5.5.0
JAVA4_VERSION=4.9.7
CLUSTER_NAME=rmq-bridge-test
JAVA_BIN=${RMQ_JAVA:-java}
# The name server needs little heap and no C2 JIT; the broker keeps C2 (benchmarks run against it).
# The proxy, like the name server, starts faster without C2; it forwards, so little heap.
PROXY_OPTS=${RMQ_PROXY_JAVA_OPTS:--Xms128m -Xmx256m -Xss512k -XX:MaxDirectMemorySize=128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
NAMESRV_OPTS=${RMQ_NAMESRV_JAVA_OPTS:--Xms64m -Xmx128m -Xss512k -XX:MaxDirectMemorySize=64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
BROKER_OPTS=${RMQ_BROKER_JAVA_OPTS:--Xms256m -Xmx256m -Xss512k -XX:MaxDirectMemorySize=256m -XX:+UseSerialGC -XX:CICompilerCount=2}

version_of() {
    case "$1" in
    java5) echo "$JAVA5_VERSION" ;;
    java4) echo "$JAVA4_VERSION" ;;
    *) die "unknown --impl '$1' (expected java5 or java4)" ;;
    esac
}

# lib_dir: installs $IMPL when needed; prints its lib directory.
lib_dir() {
    local version dir
    version=$(version_of "$IMPL")
    dir="$CACHE/java-$version"
    if [ -f "$dir/lib/.complete" ]; then
        echo "$dir/lib"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found on PATH (needed to resolve Apache RocketMQ $version)"
    command -v "$JAVA_BIN" >/dev/null || die "java not found on PATH"
    mkdir -p "$dir"
    rm -rf "$dir/lib.tmp"
    log "resolving Apache RocketMQ $version from Maven Central into $dir/lib"
    if ! mvn -q -B -f "$REPO_ROOT/interop/java/broker/pom.xml" -Drocketmq.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib.tmp" >&2; then
        die "mvn could not resolve org.apache.rocketmq:rocketmq-broker:$version (see the output above)"
    fi
    [ -f "$dir/lib.tmp/rocketmq-broker-$version.jar" ] || die "rocketmq-broker-$version.jar missing after mvn"
    rm -rf "$dir/lib"
    mv "$dir/lib.tmp" "$dir/lib"
    touch "$dir/lib/.complete"
    echo "$dir/lib"
}

# proxy_lib_dir: installs rocketmq-proxy of $IMPL (5.x) when needed; prints its lib directory. Its own directory:
# the proxy brings gRPC and its own versions of libraries the broker's jars share.
proxy_lib_dir() {
    local version dir
    version=$(version_of "$IMPL")
    dir="$CACHE/java-$version-proxy"
    if [ -f "$dir/lib/.complete" ]; then
        echo "$dir/lib"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found on PATH (needed to resolve rocketmq-proxy $version)"
    mkdir -p "$dir"
    rm -rf "$dir/lib.tmp"
    log "resolving rocketmq-proxy $version from Maven Central into $dir/lib"
    if ! mvn -q -B -f "$REPO_ROOT/interop/java/proxy/pom.xml" -Drocketmq.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib.tmp" >&2; then
        die "mvn could not resolve org.apache.rocketmq:rocketmq-proxy:$version (see the output above)"
    fi
    [ -f "$dir/lib.tmp/rocketmq-proxy-$version.jar" ] || die "rocketmq-proxy-$version.jar missing after mvn"
    rm -rf "$dir/lib"
    mv "$dir/lib.tmp" "$dir/lib"
    touch "$dir/lib/.complete"
    echo "$dir/lib"
}

check_proxy_impl() {
    [ "$IMPL" = java5 ] || die "--proxy needs --impl java5 (rocketmq-proxy exists from 5.0; 4.x has none)"
}

# Both check --proxy against the implementation before anything is resolved.
backend_install() {
    [ "$PROXY" = 0 ] || check_proxy_impl
    lib_dir
    [ "$PROXY" = 0 ] || proxy_lib_dir
}
backend_check() {
    if [ -n "$ACL" ] && [ "$IMPL" != java5 ]; then
        die "--acl: ACL 2.0 needs --impl java5 (4.x has only ACL 1.0's plain_acl.yml, not set up here)"
    fi
    [ "$PROXY" = 0 ] || check_proxy_impl
    LIB=$(lib_dir)
    [ "$PROXY" = 0 ] || PROXY_LIB=$(proxy_lib_dir)
}
backend_label() { echo "Apache RocketMQ $(version_of "$IMPL") ($IMPL)"; }
backend_pidfile() { echo "$DIR/$1-$2/pid"; }
backend_logfile() { echo "$DIR/$1-$2/stdout.log"; }
backend_ready() { true; }

backend_env() {
    local i list=""
    for ((i = 1; i <= NAMESRVS; i++)); do list+="${list:+;}127.0.0.1:${NS_PORTS[$((i - 1))]}"; done
    echo "RMQ_IMPL=$IMPL"
    echo "RMQ_VERSION=$(version_of "$IMPL")"
    echo "RMQ_NAMESRV=$list"
    echo "RMQ_NAMESRV_COUNT=$NAMESRVS"
    for ((i = 1; i <= NAMESRVS; i++)); do echo "RMQ_NAMESRV_$i=127.0.0.1:${NS_PORTS[$((i - 1))]}"; done
    echo "RMQ_BROKER_COUNT=$BROKERS"
    for ((i = 1; i <= BROKERS; i++)); do
        echo "RMQ_BROKER_$i=127.0.0.1:${BR_PORTS[$((i - 1))]}"
        echo "RMQ_BROKER_${i}_NAME=$(broker_name "$i")"
    done
    echo "RMQ_CLUSTER=$CLUSTER_NAME"
}

write_logback() {
    local conf=$1 logs=$2 f
    for f in namesrv broker; do
        cat >"$conf/logback_$f.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$logs/$f.log</file>
    <encoder><pattern>%d{yyy-MM-dd HH:mm:ss,GMT+0} %p %t - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
    done
}

# 4.9.x unmaps store files through reflection on java.nio.DirectByteBuffer.attachment(); on Java 17 that
# throws InaccessibleObjectException ("module java.base does not \"opens java.nio\" to unnamed module")
# when a broker reopens an existing store (restart after kill), and then the same for
# jdk.internal.ref.Cleaner.clean() ("does not \"exports jdk.internal.ref\""), unless both are opened.
impl_opts() {
    case "$IMPL" in
    java4) echo "--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED" ;;
    *) echo "" ;;
    esac
}

write_namesrv_config() {
    local wd=$1 port=$2
    cat >"$wd/namesrv.conf" <<EOF
listenPort=$port
bindAddress=127.0.0.1
rocketmqHome=$wd/rmqhome
kvConfigPath=$wd/home/namesrv/kvConfig.json
configStorePath=$wd/home/namesrv/namesrv.properties
EOF
}

# write_broker_config I WD PORT [ID ROLE]: broker I's config (a master by default; ID 1 and SLAVE for its slave).
write_broker_config() {
    local i=$1 wd=$2 port=$3 id=${4:-0} role=${5:-ASYNC_MASTER} store
    place_store "$wd"
    store=$(store_dir "$wd")
    cat >"$wd/broker.conf" <<EOF
brokerClusterName=$CLUSTER_NAME
brokerName=$(broker_name "$i")
brokerId=$id
brokerRole=$role
flushDiskType=ASYNC_FLUSH
brokerIP1=127.0.0.1
listenPort=$port
bindAddress=127.0.0.1
haListenPort=$((port + 1))
namesrvAddr=$(env_get RMQ_NAMESRV)
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
registerNameServerPeriod=10000
rocketmqHome=$wd/rmqhome
storePathRootDir=$store
storePathCommitLog=$store/commitlog
mappedFileSizeCommitLog=33554432
mappedFileSizeConsumeQueue=600000
maxHashSlotNum=50000
maxIndexNum=200000
timerWheelEnable=false
diskMaxUsedSpaceRatio=98
deleteWhen=04
fileReservedTime=1
EOF
    if [ -n "${ACL_USER:-}" ]; then
        # ACL 2.0 (Apache 5.3+), authentication only: the initial user is a super user, so no authorization rules are
        # needed; users are kept in a local RocksDB under the broker's home. The broker signs its own requests (to
        # the name servers, its slave) with the inner-client credentials.
        cat >>"$wd/broker.conf" <<EOF
authenticationEnabled=true
authenticationProvider=org.apache.rocketmq.auth.authentication.provider.DefaultAuthenticationProvider
authenticationMetadataProvider=org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider
authConfigPath=$wd/home/auth
initAuthenticationUser={"username":"$ACL_USER","password":"$ACL_SECRET"}
innerClientAuthenticationCredentials={"accessKey":"$ACL_USER","secretKey":"$ACL_SECRET"}
EOF
    fi
}

# write_proxy_config WD PORT: the proxy's rmq-proxy.json. Cluster mode: it forwards to the brokers it finds
# through the name servers. It advertises 127.0.0.1 (remotingAccessAddr; its default is the host's first
# address) in the routes it answers; it has no bind-address setting, so it listens on every interface.
write_proxy_config() {
    local wd=$1 port=$2
    cat >"$wd/rmq-proxy.json" <<EOF
{
  "rocketMQClusterName": "$CLUSTER_NAME",
  "proxyMode": "cluster",
  "namesrvAddr": "$(env_get RMQ_NAMESRV)",
  "remotingListenPort": $port,
  "remotingAccessAddr": "127.0.0.1",
  "grpcServerPort": $((port + 1))
}
EOF
}

# tls_opts KIND: the JVM options of a TLS-only server (nothing without --tls).
tls_opts() {
    local d auth
    d=$(env_get RMQ_TLS_DIR) auth=$(env_get RMQ_TLS_CLIENT_AUTH)
    [ -n "$d" ] || return 0
    echo "-Dtls.server.mode=${RMQ_TLS_SERVER_MODE:-enforcing} -Dtls.test.mode.enable=false"
    echo "-Dtls.server.certPath=$d/server.pem -Dtls.server.keyPath=$d/server.key"
    if [ "$auth" = 1 ]; then
        echo "-Dtls.server.need.client.auth=require -Dtls.server.authClient=true"
        echo "-Dtls.server.trustCertPath=$d/ca.pem"
    fi
    if [ "$1" != namesrv ]; then
        echo "-Dtls.enable=true -Dtls.client.authServer=false"
        [ "$auth" != 1 ] || echo "-Dtls.client.certPath=$d/client.pem -Dtls.client.keyPath=$d/client.key"
    fi
}

# backend_launch KIND I: the config is written on the first launch and reused by restarts (same ports, store).
# The JVM runs in its own session (setsid execs it: the pid is the JVM's).
backend_launch() {
    local kind=$1 i=$2 wd="$DIR/$1-$2" port main opts conf
    port=$(env_get "RMQ_${kind^^}_$i")
    port=${port##*:}
    if [ "$kind" = proxy ]; then
        launch_proxy "$i" "$wd" "$port"
        return 0
    elif [ "$kind" = namesrv ]; then
        main=org.apache.rocketmq.namesrv.NamesrvStartup opts=$NAMESRV_OPTS conf="$wd/namesrv.conf"
    else
        main=org.apache.rocketmq.broker.BrokerStartup opts=$BROKER_OPTS conf="$wd/broker.conf"
    fi
    mkdir -p "$wd/home/logs" "$wd/rmqhome/conf"
    if [ ! -f "$conf" ]; then
        # 4.x reads its logback configuration from $ROCKETMQ_HOME/conf; 5.x ships it in its jars.
        write_logback "$wd/rmqhome/conf" "$wd/home/logs"
        case "$kind" in
        namesrv) write_namesrv_config "$wd" "$port" ;;
        slave) write_broker_config "$i" "$wd" "$port" 1 SLAVE ;;
        *) write_broker_config "$i" "$wd" "$port" ;;
        esac
    fi
    [ -n "${LIB:-}" ] || LIB=$(lib_dir)
    # shellcheck disable=SC2086
    setsid "$JAVA_BIN" $opts $(impl_opts) $(tls_opts "$kind") \
        -Duser.home="$wd/home" -Drocketmq.home.dir="$wd/rmqhome" -Djava.io.tmpdir="$wd/home" \
        -Drocketmq.client.logRoot="$wd/home/logs" \
        -cp "$LIB/*" "$main" -c "$conf" >"$wd/stdout.log" 2>&1 </dev/null &
    echo $! >"$(backend_pidfile "$kind" "$i")"
}

# launch_proxy I WD PORT: rocketmq-proxy I (its own jars; ProxyStartup takes the config with -pc and the mode
# with -pm).
launch_proxy() {
    local i=$1 wd=$2 port=$3
    mkdir -p "$wd/home/logs" "$wd/rmqhome/conf"
    [ -f "$wd/rmq-proxy.json" ] || write_proxy_config "$wd" "$port"
    [ -n "${PROXY_LIB:-}" ] || PROXY_LIB=$(proxy_lib_dir)
    # shellcheck disable=SC2086
    setsid "$JAVA_BIN" $PROXY_OPTS \
        -Duser.home="$wd/home" -Drocketmq.home.dir="$wd/rmqhome" -Djava.io.tmpdir="$wd/home" \
        -Drocketmq.client.logRoot="$wd/home/logs" \
        -cp "$PROXY_LIB/*" org.apache.rocketmq.proxy.ProxyStartup -pc "$wd/rmq-proxy.json" -pm cluster \
        >"$wd/stdout.log" 2>&1 </dev/null &
    echo $! >"$(backend_pidfile proxy "$i")"
}

cluster_main "$@"
