#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, everything under .cache/cluster/:
#   cluster.sh up       build if needed, start what is not running (health-checked), wait for Ready,
#                       then storage, GPU capacity, images, `kubectl apply -k k8s/overlays/cpu`
#   cluster.sh images   import the local Docker engine's bankpipe-* images into containerd
#   cluster.sh down     stop everything (kubelet first), remove the pods' sandboxes and the bridge;
#                       keeps the binaries and the cluster's state (etcd, images) for the next `up`
#   cluster.sh purge    down, then remove the state too (not the binaries or Go's caches)
# Afterwards: `source .cache/cluster/env` (KUBECONFIG, NO_PROXY, CONTAINERD_ADDRESS).
source "$(dirname "$0")/lib.sh"
PKI=$C/pki ETC=$C/etc RUN=$C/run LOGS=$C/logs

# ── processes ────────────────────────────────────────────────────────────────────────────────────────
healthy() {
    case $1 in
        etcd)                    curl -sf http://127.0.0.1:2379/health ;;
        kube-apiserver)          curl -sf --cacert "$PKI/ca.crt" https://127.0.0.1:6443/readyz ;;
        kube-controller-manager) curl -sfk https://127.0.0.1:10257/healthz ;;
        kube-scheduler)          curl -sfk https://127.0.0.1:10259/healthz ;;
        containerd)              ctr version ;;
        coredns)                 curl -sf http://127.0.0.1:8181/ready ;;
        kubelet)                 curl -sf http://127.0.0.1:10248/healthz ;;
    esac >/dev/null 2>&1
}

# The pid file holds "pid exe": a pid is only signalled while it still runs that executable.
alive() {
    local pid exe; read -r pid exe 2>/dev/null < "$RUN/$1.pid" || return 1
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && echo "$pid"
}

# start NAME COMMAND...: leave a healthy component alone, else start it in its own session (it
# outlives make) with the offline environment, and wait until its health endpoint answers.
start() {
    local name=$1; shift
    if healthy "$name"; then log "$name: running"; return; fi
    if ! alive "$name" >/dev/null; then
        log "$name: starting (log: ${LOGS#$ROOT/}/$name.log)"
        env "${OFFLINE_ENV[@]}" setsid nohup "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
        echo "$! $(readlink -f "$(command -v "$1")")" > "$RUN/$name.pid"
    fi
    for _ in $(seq 180); do
        healthy "$name" && return
        alive "$name" >/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited"; }
        sleep 0.5
    done
    tail -n 20 "$LOGS/$name.log" >&2; die "$name not healthy after 90 s"
}

stop() {
    local pid; pid=$(alive "$1") || { rm -f "$RUN/$1.pid"; return 0; }
    log "$1: stopping (pid $pid)"
    kill "$pid"
    for _ in $(seq 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
    [ ! -d "/proc/$pid" ] || kill -9 "$pid"
    rm -f "$RUN/$1.pid"
}

# ── certificates and configuration ────────────────────────────────────────────────────────────────────
# cert NAME SUBJECT USAGE [SANS]: a key and a certificate signed by the cluster's CA.
cert() {
    [ -s "$PKI/$1.crt" ] && return
    openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' \
        "$3" "${4:+subjectAltName=$4}" > "$PKI/$1.ext"
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
        -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
    rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}

# kubeconfig FILE CERT: a kubeconfig for 127.0.0.1:6443 with that client certificate, embedded.
kubeconfig() {
    cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bankpipe-local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")}
users:
- name: $2
  user: {client-certificate-data: $(base64 -w0 "$PKI/$2.crt"), client-key-data: $(base64 -w0 "$PKI/$2.key")}
contexts:
- name: bankpipe-local
  context: {cluster: bankpipe-local, user: $2}
current-context: bankpipe-local
EOF
}

pki() {
    mkdir -p "$PKI"
    if [ ! -s "$PKI/ca.crt" ]; then
        log "generating the CA and certificates"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
            -subj "/CN=bankpipe-local-ca" 2>/dev/null
        openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    fi
    local svc_ip=${SERVICE_CIDR%.0/*}.1 k=kubernetes.default.svc
    cert apiserver "/CN=kube-apiserver" serverAuth \
        "IP:127.0.0.1,IP:$NODE_IP,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:$k,DNS:$k.$DOMAIN"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    cert admin "/O=system:masters/CN=bankpipe-admin" clientAuth
    cert controller-manager "/CN=system:kube-controller-manager" clientAuth
    cert scheduler "/CN=system:kube-scheduler" clientAuth
    cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth    # what the Node authorizer expects
    cert kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
    kubeconfig "$KUBECONFIG" admin
    for c in controller-manager scheduler kubelet; do kubeconfig "$ETC/$c.kubeconfig" $c; done
}

render() {   # the templates in config/, with the @VARS@ of lib.sh filled in
    sed -e "s|@C@|$C|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@POD_CIDR@|$POD_CIDR|g" -e "s|@BRIDGE@|$BRIDGE|g" \
        -e "s|@DOMAIN@|$DOMAIN|g" -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" "$SRC/config/$1" > "$2"
}

configure() {
    mkdir -p "$ETC/cni" "$ETC/certs.d" "$RUN" "$LOGS/pods" "$C/volumes"
    render containerd.toml "$ETC/containerd.toml"
    render cni.conflist "$ETC/cni/10-bankpipe.conflist"
    render Corefile "$ETC/Corefile"
    render kubelet.yaml "$ETC/kubelet.yaml"
    printf 'nameserver %s\n' "$NODE_IP" > "$ETC/resolv.conf"
    cat > "$C/env" <<EOF
export KUBECONFIG=$KUBECONFIG
export NO_PROXY=$NO_PROXY no_proxy=$NO_PROXY
export CONTAINERD_ADDRESS=$CONTAINERD_SOCK CONTAINERD_NAMESPACE=k8s.io
EOF
}

# The pods' bridge, with the node's address and nothing else: no route leads off it and forwarding
# is not needed (pods talk to each other on the bridge, to the host at its address).
bridge() {
    ip link show "$BRIDGE" >/dev/null 2>&1 && return
    log "creating bridge $BRIDGE $NODE_IP/${POD_CIDR#*/}"
    ip link add "$BRIDGE" type bridge
    sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" || true   # IPv4 only: no router solicitations etc.
    # And no routing of what arrives on the bridge, even when the host forwards (Docker turns
    # ip_forward on): a pod that forged a packet for another network at the bridge's MAC (raw
    # sockets need no route) would otherwise be routed off the machine. Bridged pod-to-pod
    # traffic and traffic to the host's own address are not forwarding, so they are unaffected.
    sysctl -qw "net.ipv4.conf.$BRIDGE.forwarding=0"
    ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

# ── up ───────────────────────────────────────────────────────────────────────────────────────────────
up() {
    local t0=$SECONDS
    "$SRC/build.sh"
    configure; pki; bridge
    local t1=$SECONDS

    start etcd etcd --name bankpipe --data-dir "$C/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster bankpipe=http://127.0.0.1:2380
    # Loopback only; --advertise-address must be a non-loopback IP: the bridge's (the `kubernetes`
    # Service's endpoint, unused: nothing routes ClusterIPs). Authorization: Node + RBAC as in a real
    # cluster, so the project's Roles and ServiceAccounts are exercised for real.
    start kube-apiserver kube-apiserver --bind-address 127.0.0.1 --secure-port 6443 --advertise-address "$NODE_IP" \
        --etcd-servers http://127.0.0.1:2379 --service-cluster-ip-range "$SERVICE_CIDR" \
        --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$PKI/apiserver-kubelet-client.key" --kubelet-preferred-address-types InternalIP \
        --service-account-issuer "https://kubernetes.default.svc.$DOMAIN" \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true \
        --profiling=false
    start kube-controller-manager kube-controller-manager --kubeconfig "$ETC/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
        --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" --profiling=false
    start kube-scheduler kube-scheduler --kubeconfig "$ETC/scheduler.kubeconfig" --bind-address 127.0.0.1 \
        --leader-elect=false --profiling=false
    start containerd containerd --config "$ETC/containerd.toml"
    ctr images ls -q | grep -qxF "$PAUSE_IMAGE" || ctr images import "$C/images/pause.tar" >/dev/null
    # CoreDNS reads Services and EndpointSlices as the admin (a local test cluster: no own Role).
    start coredns coredns -conf "$ETC/Corefile"
    local since=""; healthy kubelet || since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    start kubelet kubelet --config "$ETC/kubelet.yaml" --kubeconfig "$ETC/kubelet.kubeconfig" \
        --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$C/kubelet"

    # Ready as reported by the kubelet just started: after a restart the node object still carries
    # the Ready condition of the last run until the kubelet's first status update replaces it.
    local cond='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}' ready
    for _ in $(seq 240); do
        ready=$(kubectl get node "$NODE_NAME" -o jsonpath="$cond" 2>/dev/null) || true
        [ "${ready%% *}" = True ] && [[ ! "${ready#* }" < "$since" ]] && break
        sleep 0.5
    done
    [ "${ready%% *}" = True ] || die "node $NODE_NAME not Ready after 120 s (log: .cache/cluster/logs/kubelet.log)"
    log "node $NODE_NAME Ready: $(( SECONDS - t1 )) s after start-up began ($(( SECONDS - t0 )) s in all)"

    # A pretend GPU, so GPU scheduling can be tried: an extended resource in the node's status
    # (no device behind it). The kubelet zeroes unknown extended resources when it re-registers,
    # so this is done on every `up`.
    kubectl patch node "$NODE_NAME" --subresource=status --type=json \
        -p '[{"op":"add","path":"/status/capacity/nvidia.com~1gpu","value":"1"}]' >/dev/null
    # ...and the label the gpu overlay selects (what NVIDIA's GPU feature discovery sets). No taint: CPU
    # pods must still fit on the one node.
    kubectl label node "$NODE_NAME" nvidia.com/gpu.present=true --overwrite >/dev/null

    # Storage for the project's PVC bankpipe-artifacts (k8s/base/pvc.yaml, no storageClassName: with
    # no default StorageClass here it binds to a class-less volume). Both access modes, so the gpu
    # overlay's ReadWriteMany claim binds too; the pods run as uid 10001.
    # Set-group-ID, group-writable: folders the kubelet creates for sub-path mounts (a step's output) take
    # group 10001 and this mode, so the pods (uid and fsGroup 10001) can write them, as fsGroup makes it on
    # a real volume.
    install -d -o 10001 -g 10001 -m 2775 "$C/volumes/bankpipe-artifacts"
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: bankpipe-artifacts}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: bankpipe, name: bankpipe-artifacts}
  hostPath: {path: $C/volumes/bankpipe-artifacts, type: Directory}
EOF
    images
    kubectl apply -k "$ROOT/k8s/overlays/cpu" >/dev/null
    kubectl apply -k "$ROOT/k8s/overlays/objectstore" >/dev/null  # runs on the object store: no volume
    log "up: $(( SECONDS - t0 )) s. Now: source .cache/cluster/env; kubectl get pods -A"
}

# Load the bankpipe-* images of the local Docker engine (`make images`) into containerd: nothing can
# be pulled. Skipped per image while containerd already has it with the same Docker image ID. The GPU
# trainer (5 GB, no GPU to run it here) only with CLUSTER_GPU_IMAGE=1: GPU pods are scheduled, not run.
images() {
    docker info >/dev/null 2>&1 || { log "no Docker engine answers: no bankpipe images imported"; return 0; }
    mkdir -p "$C/images"
    local ref id stamp skip='-gpu:'
    [ "${CLUSTER_GPU_IMAGE:-0}" = 1 ] && skip='^$'
    for ref in $(docker images --format '{{.Repository}}:{{.Tag}}' 'bankpipe-*' | grep -v -e '<none>' -e ':sha256-' -e '^bankpipe-base:' -e "$skip"); do
        id=$(docker image inspect -f '{{.Id}}' "$ref") stamp=$C/images/${ref/:/_}.id
        if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && ctr images ls -q | grep -qxF "docker.io/library/$ref"; then
            continue
        fi
        log "importing $ref into containerd"
        docker save "$ref" | ctr images import - >/dev/null
        echo "$id" > "$stamp"
    done
}

# ── down ─────────────────────────────────────────────────────────────────────────────────────────────
down() {
    stop kubelet      # first: else it restarts the containers stopped below
    stop coredns
    if healthy containerd; then
        # Kill every container, then remove them; each pod sandbox's network namespace (with its
        # veth) goes with it, as the kubelet is no longer there to tear pods down one by one.
        local ids netns
        ids=$(ctr containers ls -q)
        for id in $(ctr tasks ls -q); do ctr tasks kill -s SIGKILL "$id" 2>/dev/null || true; done
        for id in $ids; do
            netns=$(ctr containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' | head -n1) || true
            ctr tasks rm -f "$id" >/dev/null 2>&1 || true
            ctr containers rm "$id" >/dev/null 2>&1 || true
            [ -z "$netns" ] || { umount "$netns" 2>/dev/null || true; rm -f "$netns"; }
        done
    fi
    stop containerd
    stop kube-scheduler; stop kube-controller-manager; stop kube-apiserver; stop etcd
    # Leftover mounts of ours (the kubelet's volumes, containers' root filesystems), deepest first.
    findmnt -rn -o TARGET | grep "^$C/" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
    rm -rf "$RUN/cni-ipam"
    if ip link show "$BRIDGE" >/dev/null 2>&1; then log "removing bridge $BRIDGE"; ip link del "$BRIDGE"; fi
    log "down"
}

purge() {
    down
    rm -rf "$C/etcd" "$C/containerd" "$C/kubelet" "$PKI" "$ETC" "$RUN" "$LOGS" "$C"/images/*.id "$KUBECONFIG" "$C/env"
    log "state removed (binaries kept; volumes in .cache/cluster/volumes kept)"
}

case ${1:-} in
    up|down|purge|images) [ "$(id -u)" = 0 ] || die "needs root (containers, mounts, the bridge)"; "$1" ;;
    *) echo "usage: $0 up|down|purge|images" >&2; exit 2 ;;
esac
