#!/usr/bin/env bash
# A real S3-compatible object store on this machine: SeaweedFS (`weed server`) built from the Go module
# proxy, everything under .cache/objectstore/ (git-ignored). See objectstore/README.md.
#   objectstore.sh build    build bin/weed from the version pinned in go.mod (idempotent, stamped)
#   objectstore.sh up       build if needed, start what is not running, wait until S3 answers (idempotent)
#   objectstore.sh down     stop the bridge forwarder and the server (keeps data and credentials)
#   objectstore.sh status   what runs, where
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/objectstore
C=$ROOT/.cache/objectstore
BIN=$C/bin
DATA=$C/data
LOGS=$C/logs
RUN=$C/run
export PATH=/usr/local/go/bin:$PATH

S3_PORT=8333
# The local cluster's bridge address (k8s/cluster/lib.sh): pods reach the host there, and only there.
BRIDGE_IP=198.18.0.1
WAIT_SECONDS=${OBJECTSTORE_WAIT_SECONDS:-90}
# weed runs with every HTTP(S) request sent to a proxy that does not exist (port 9, "discard"), and its
# telemetry off: nothing it might reach for outside leaves the machine. Loopback is never proxied.
# shellcheck disable=SC2054  # the commas are inside NO_PROXY's value
OFFLINE_ENV=(HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9
             https_proxy=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost)

log() { printf '[objectstore] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

build() {
    command -v go >/dev/null || die "Go is needed (expected at /usr/local/go/bin/go)"
    mkdir -p "$BIN"
    printf '*\n' > "$ROOT/.cache/.gitignore"
    local stamp version start
    stamp=$(cat "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-16)
    version=$(awk '$1 == "github.com/seaweedfs/seaweedfs" { print $2; exit }' "$SRC/go.mod")
    if [ -x "$BIN/weed" ] && [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$stamp" ]; then
        log "weed up to date ($version)"; return
    fi
    log "building weed $version with $(go version | cut -d' ' -f3) (cold: ~12 min on 2 cores, warm: seconds)"
    start=$(date +%s)
    # -p 2: the machine has 2 cores and the build runs beside other CI work. The module and build caches
    # are Go's defaults, kept between runs.
    (cd "$SRC" && go build -p 2 -trimpath -ldflags "-s -w" -o "$BIN/weed.new" github.com/seaweedfs/seaweedfs/weed)
    mv -f "$BIN/weed.new" "$BIN/weed"
    echo "$stamp" > "$BIN/.stamp"
    log "built weed in $(( $(date +%s) - start )) s"
}

# Random per machine, made once: an access key and secret, the identities file weed reads, and the env
# file a user or a test sources.
credentials() {
    mkdir -p "$C"
    if [ ! -s "$C/s3.json" ] || [ ! -s "$C/env" ]; then
        local key secret
        key=BP$(od -An -tx1 -N9 /dev/urandom | tr -d ' \n' | tr a-f A-F)
        secret=$(head -c 30 /dev/urandom | base64 | tr '+/' 'xy')
        (umask 077
         cat > "$C/s3.json.new" <<EOF
{"identities": [{"name": "bankpipe", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
         printf 'export AWS_ENDPOINT_URL=http://127.0.0.1:%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1\n' \
             "$S3_PORT" "$key" "$secret" > "$C/env.new")
        mv -f "$C/s3.json.new" "$C/s3.json"
        mv -f "$C/env.new" "$C/env"
        log "new credentials in $C/env"
    fi
    # Where the local cluster's pods reach the store (the runner puts it into their Secret).
    grep -q BANKPIPE_POD_ENDPOINT_URL "$C/env" ||
        printf 'export BANKPIPE_POD_ENDPOINT_URL=http://%s:%s\n' "$BRIDGE_IP" "$S3_PORT" >> "$C/env"
}

# answers HOST: a signed ListBuckets succeeds (the gateway, the filer behind it and the credentials work).
answers() {
    [ -s "$C/env" ] || return 1
    local key secret
    key=$(sed -n 's/.*AWS_ACCESS_KEY_ID=\([^ ]*\).*/\1/p' "$C/env")
    secret=$(sed -n 's/.*AWS_SECRET_ACCESS_KEY=\([^ ]*\).*/\1/p' "$C/env")
    curl -sf --noproxy '*' -m 5 -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" \
        "http://$1:$S3_PORT/"
}

# alive NAME: its pid file names a live process started with the expected command line (a reused pid does
# not count; setsid and nohup exec into the program with the same arguments).
alive() {
    local pid pattern; pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
    case "$1" in weed) pattern="$BIN/weed" ;; forward) pattern="TCP-LISTEN:$S3_PORT,bind=$BRIDGE_IP" ;; esac
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "$pattern"
}
listening() { ss -Hltn "sport = :$S3_PORT" | awk '{ print $4 }' | grep -qx "$1:$S3_PORT"; }
bridge_up() { ip -o -4 addr show 2>/dev/null | grep -q " inet $BRIDGE_IP/"; }

# wait_for NAME HOST: bounded wait until S3 answers on HOST, or fail naming the log.
wait_for() {
    local deadline=$(( SECONDS + WAIT_SECONDS ))
    until answers "$2"; do
        alive "$1" || { tail -n 20 "$LOGS/$1.log" >&2; die "$1 exited; log: $LOGS/$1.log"; }
        [ $SECONDS -lt $deadline ] || { tail -n 20 "$LOGS/$1.log" >&2
            die "S3 on $2:$S3_PORT not answering after $WAIT_SECONDS s; log: $LOGS/$1.log"; }
        sleep 1
    done
}

start_weed() {
    if alive weed && answers 127.0.0.1; then log "weed: running (S3 on 127.0.0.1:$S3_PORT)"; return; fi
    alive weed || ! listening 127.0.0.1 || die "another process listens on 127.0.0.1:$S3_PORT (ss -ltnp)"
    if ! alive weed; then
        mkdir -p "$DATA" "$LOGS" "$RUN"
        # Every port on 127.0.0.1 (an explicit -ip.bind keeps weed from adding listeners elsewhere);
        # the Iceberg and Lance catalogs are off (8181 is CoreDNS's readiness port). Volumes grow one
        # at a time, as `weed mini` does, so that many buckets (one collection each) fit in the slots.
        log "starting weed (log: $LOGS/weed.log)"
        env -C "$C" "${OFFLINE_ENV[@]}" WEED_MASTER_VOLUME_GROWTH_COPY_1=1 setsid nohup "$BIN/weed" server \
            -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$DATA" -filer -volume.max=0 -master.volumeSizeLimitMB=256 \
            -volume.preStopSeconds=0 -master.telemetry=false -s3 -s3.port="$S3_PORT" -s3.config="$C/s3.json" \
            -s3.port.iceberg=0 -s3.port.lance=0 -filer.localSocket="$RUN/filer.sock" -s3.localSocket="$RUN/s3.sock" \
            >> "$LOGS/weed.log" 2>&1 < /dev/null &
        echo $! > "$RUN/weed.pid"
    fi
    wait_for weed 127.0.0.1
    log "weed: S3 answers on 127.0.0.1:$S3_PORT"
}

# weed binds each port to one address and adds no second listener once -ip.bind is given, so the
# bridge gets a plain TCP forwarder (socat) to the loopback gateway; SigV4 signs the Host header the
# client sent, which passes through unchanged.
start_forwarder() {
    if ! bridge_up; then log "no $BRIDGE_IP on this machine (local cluster down): S3 on 127.0.0.1 only"; return; fi
    if alive forward && answers "$BRIDGE_IP"; then log "forwarder: running ($BRIDGE_IP:$S3_PORT)"; return; fi
    if ! command -v socat >/dev/null; then
        log "installing socat"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >/dev/null
    fi
    alive forward || ! listening "$BRIDGE_IP" || die "another process listens on $BRIDGE_IP:$S3_PORT (ss -ltnp)"
    if ! alive forward; then
        setsid nohup socat "TCP-LISTEN:$S3_PORT,bind=$BRIDGE_IP,reuseaddr,fork,backlog=128" "TCP:127.0.0.1:$S3_PORT" \
            >> "$LOGS/forward.log" 2>&1 < /dev/null &
        echo $! > "$RUN/forward.pid"
    fi
    wait_for forward "$BRIDGE_IP"
    log "forwarder: S3 answers on $BRIDGE_IP:$S3_PORT too"
}

# stop NAME: TERM, a bounded wait, then KILL.
stop() {
    alive "$1" || { rm -f "$RUN/$1.pid"; return; }
    local pid; pid=$(cat "$RUN/$1.pid")
    log "stopping $1 ($pid)"
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$RUN/$1.pid"
}

status() {
    local rc=0
    if alive weed && answers 127.0.0.1; then echo "weed: running, S3 on http://127.0.0.1:$S3_PORT"
    else echo "weed: not running"; rc=1; fi
    if alive forward && answers "$BRIDGE_IP"; then echo "forwarder: running, S3 on http://$BRIDGE_IP:$S3_PORT"
    elif alive forward; then echo "forwarder: running, idle while $BRIDGE_IP is not on this machine"
    else echo "forwarder: not running"; fi
    echo "credentials: source $C/env"
    return $rc
}

case "${1:-}" in
    build) build ;;
    up) build; credentials; start_weed; start_forwarder ;;
    down) stop forward; stop weed ;;
    status) status ;;
    *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
