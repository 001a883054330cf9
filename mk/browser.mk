# ── Headless browser for the data report's tests (tests/reports/test_data_report.py) ────────────────────────────────
# Debian's chromium renders validate/report.html the way a reader's browser would; the tests skip without
# it, except under CI where they fail. Installing needs root and Debian's apt repositories; idempotent.
.PHONY: browser tensorboard

browser:  ## install Debian's chromium for the report tests (needs root; does nothing if it is there)
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium is missing: run 'sudo make browser' (the report's browser tests skip without it)"; fi

# Every run under runs/ is a trial in the HParams tab; scalars, graphs and PR curves per run.
tensorboard: setup  ## TensorBoard over every run under runs/ (http://127.0.0.1:6006)
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1
