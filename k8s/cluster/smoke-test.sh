#!/usr/bin/env bash
# End-to-end check of a running local cluster (make cluster): cluster DNS from a pod, and a pod
# reaching another by its headless-Service name over TCP (test/dns-smoke.yaml). Uses the
# bankpipe-trainer image (python), so `make images` first. Leaves nothing behind.
source "$(dirname "$0")/lib.sh"
kubectl delete namespace bp-smoke --ignore-not-found --wait >/dev/null
kubectl apply -f "$SRC/test/dns-smoke.yaml" >/dev/null
trap 'kubectl delete namespace bp-smoke --wait=false >/dev/null' EXIT
for p in lookup a; do
    kubectl -n bp-smoke wait "pod/$p" --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null \
        || { kubectl -n bp-smoke describe pod "$p" | tail -n 20; kubectl -n bp-smoke logs "$p"; die "pod $p failed"; }
done
ip=$(kubectl -n bp-smoke logs lookup) answer=$(kubectl -n bp-smoke logs a)
echo "lookup: kubernetes.default.svc.$DOMAIN -> $ip"; echo "a: $answer"
[ "$ip" = "${SERVICE_CIDR%.0/*}.1" ] && grep -q 'hello from b' <<< "$answer" || die "unexpected answers"
echo "smoke test passed"
