#!/usr/bin/env bash
# Install and build what the local cluster runs, into .cache/cluster/bin (idempotent):
#  - Debian packages: etcd, containerd, runc, the CNI plugins;
#  - with the machine's Go, from the module in k8s/cluster (go.mod pins the release): kube-apiserver,
#    kube-controller-manager, kube-scheduler, kubelet and a CoreDNS (no registry or release download
#    is reachable here, the Go module proxy is);
#  - the pause image, from the Kubernetes module's own pause.c, as a docker archive for containerd.
# The Go build and module caches are Go's defaults, kept between runs: a warm rebuild takes seconds.
# Nothing is rebuilt while bin/.stamp matches the hash of the module files.
source "$(dirname "$0")/lib.sh"

pkgs=()
command -v etcd >/dev/null || pkgs+=(etcd-server)
command -v containerd >/dev/null || pkgs+=(containerd)
command -v runc >/dev/null || pkgs+=(runc)
[ -x /usr/lib/cni/bridge ] || pkgs+=(containernetworking-plugins)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v gcc >/dev/null || pkgs+=(gcc libc6-dev)
if [ ${#pkgs[@]} -gt 0 ]; then
    log "installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
command -v go >/dev/null || die "Go is needed (expected at /usr/local/go/bin/go)"

mkdir -p "$BIN" "$C/images"
printf '*\n' > "$ROOT/.cache/.gitignore"
stamp=$(cd "$SRC" && cat go.mod go.sum coredns/main.go | sha256sum | cut -c1-16)
kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$SRC/go.mod")

if [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "binaries up to date ($kube_version)"
else
    log "building Kubernetes $kube_version and CoreDNS with $(go version | cut -d' ' -f3) (cold: ~8 min, warm: seconds)"
    start=$(date +%s)
    # The version the binaries report (kubectl version, the node's kubeletVersion); the release
    # scripts set the same variables.
    minor=${kube_version#v1.}; minor=${minor%%.*}
    pkg=k8s.io/component-base/version
    ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    (cd "$SRC" && go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet)
    (cd "$SRC" && go build -trimpath -ldflags "-s -w" -o "$BIN/coredns" ./coredns)
    echo "$stamp" > "$BIN/.stamp"
    log "built in $(( $(date +%s) - start )) s"
fi

# The pause image (each pod's sandbox process): no registry is reachable to pull registry.k8s.io/pause,
# so it is built from the same source, static, and packed as a one-layer docker archive by hand.
if [ ! -s "$C/images/pause.tar" ]; then
    log "building the pause image"
    modsrc=$(cd "$SRC" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
    [ -d "$modsrc" ] || (cd "$SRC" && go mod download k8s.io/kubernetes)
    modsrc=$(cd "$SRC" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/rootfs"
    gcc -Os -static -Wall -DVERSION="$kube_version-bankpipe" -o "$work/rootfs/pause" "$modsrc/build/pause/linux/pause.c"
    strip "$work/rootfs/pause"
    tar -C "$work/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" pause
    diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},
 "rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created_by":"k8s/cluster/build.sh"}]}
EOF
    cat > "$work/manifest.json" <<EOF
[{"Config":"config.json","RepoTags":["$PAUSE_IMAGE"],"Layers":["layer.tar"]}]
EOF
    tar -C "$work" -cf "$C/images/pause.tar" manifest.json config.json layer.tar
fi
