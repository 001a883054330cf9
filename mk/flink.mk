# ── Local Flink (flink/README.md) ─────────────────────────────────────────────────────────────────────
# A real Flink 1.19 session cluster + Beam's Flink job server on 127.0.0.1, everything under .cache/flink.
# Run a Beam pipeline on it with:  --runner=FlinkRunner --flink_master=localhost:8081 --environment_type=LOOPBACK
# (or, reusing the warm job server: --runner=PortableRunner --job_endpoint=localhost:8099 --environment_type=LOOPBACK)
.PHONY: flink flink-down flink-status flink-smoke

flink: | $(UV)  ## start the local Flink cluster and job server (installs them once; leaves a running one alone)
	UV=$(UV) PYTHON=$(PYTHON) flink/flink.sh up

flink-down:  ## stop the local Flink cluster and job server
	flink/flink.sh down

flink-status:  ## is the local Flink cluster up?
	flink/flink.sh status

flink-smoke: setup flink  ## run a word count, a failing DoFn and TFDV statistics on the local Flink cluster
	$(PY) flink/smoke.py wordcount
	! $(PY) flink/smoke.py fail
	$(PY) flink/smoke.py tfdv
