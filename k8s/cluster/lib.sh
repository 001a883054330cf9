# Shared settings of the local cluster scripts (sourced, not run). Everything lives under
# .cache/cluster/ (git-ignored): binaries, certificates, configs, state, logs, pids.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$ROOT/k8s/cluster
C=$ROOT/.cache/cluster
BIN=$C/bin
export PATH=$BIN:/usr/local/go/bin:$PATH

# Network: the RFC 2544 benchmarking block 198.18.0.0/15, which no real host on any network uses,
# so nothing here can collide with or be routed to a real address. Pods sit on an isolated bridge
# (bp0, no gateway, no masquerade, no kube-proxy): they reach only each other and the bridge's own
# address, where the cluster DNS listens. Services get ClusterIPs from the second /24 block; with no
# kube-proxy these carry no traffic (headless Services work through DNS alone).
BRIDGE=bp0
NODE_IP=198.18.0.1           # the bridge's address: node IP, API advertise address, cluster DNS
POD_CIDR=198.18.0.0/24
SERVICE_CIDR=198.19.0.0/24
NODE_NAME=bp-node
DOMAIN=cluster.local

# Our own name for the pause image built from source (nothing may be pulled, see OFFLINE_ENV).
PAUSE_IMAGE=bankpipe.local/pause:3.10
CONTAINERD_SOCK=$C/run/containerd.sock
KUBECONFIG=$C/kubeconfig
export KUBECONFIG CONTAINERD_ADDRESS=$CONTAINERD_SOCK CONTAINERD_NAMESPACE=k8s.io

# Requests to this machine and the pod network must never go through a proxy the environment may
# set (it would intercept the API server's calls to the kubelet and host-to-pod requests).
export NO_PROXY=127.0.0.1,localhost,198.18.0.0/15,.svc,.$DOMAIN
export no_proxy=$NO_PROXY

# The components run with every other HTTP(S) request sent to a proxy that does not exist (port 9,
# "discard": nothing listens): an image pull, or any other reach for the outside, fails at once on
# 127.0.0.1 instead of sending a packet, or even a DNS query, off the machine. (Not exported: the
# Go build needs the module proxy.)
OFFLINE_ENV=(HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9
             http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
