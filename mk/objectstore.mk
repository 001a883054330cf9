# ── Local object store (objectstore/README.md) ───────────────────────────────────────────────────────
# A real S3 API (SeaweedFS, built from the Go module proxy) on 127.0.0.1:8333, and on 198.18.0.1:8333 for
# the local cluster's pods while its bridge is up; data, logs and credentials under .cache/objectstore.
# After `make objectstore`:  source .cache/objectstore/env  (AWS_ENDPOINT_URL and a key pair for boto3)
.PHONY: objectstore objectstore-down objectstore-status objectstore-build

objectstore:  ## build (once) and start the local S3 server; idempotent
	objectstore/objectstore.sh up

objectstore-down:  ## stop the local S3 server (keeps its data and credentials)
	objectstore/objectstore.sh down

objectstore-status:  ## is the local S3 server up, and where?
	objectstore/objectstore.sh status

objectstore-build:  ## build the weed binary only (.cache/objectstore/bin)
	objectstore/objectstore.sh build
