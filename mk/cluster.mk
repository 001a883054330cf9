# ── Local cluster (k8s/cluster/) ─────────────────────────────────────────────────────────────────────
# A real single-node Kubernetes on this machine, built from source with Go (no release or image can be
# downloaded here), all of it under .cache/cluster/. Needs root. After `make cluster`:
#   source .cache/cluster/env && .venv/bin/python pipeline.py --runner=kubernetes --epochs 5
.PHONY: cluster cluster-down cluster-images cluster-build cluster-purge cluster-test

cluster:  ## build (once) and start the local single-node cluster; idempotent
	k8s/cluster/cluster.sh up

cluster-down:  ## stop the local cluster and remove its pods and bridge (keeps state and builds)
	k8s/cluster/cluster.sh down

cluster-images:  ## import the bankpipe-* images of the Docker engine into the local cluster
	k8s/cluster/cluster.sh images

cluster-build:  ## install and build the local cluster's components only
	k8s/cluster/build.sh

cluster-purge:  ## cluster-down, then remove the cluster's state too (not the binaries)
	k8s/cluster/cluster.sh purge

cluster-test:  ## smoke-test the local cluster: DNS and headless-Service names from pods
	k8s/cluster/smoke-test.sh
