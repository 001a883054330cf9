#!/usr/bin/env bash
# The README's screenshots (docs/img/): three runs on the bank data with different hyperparameters, then
# headless Chromium (`make browser`) over the data report, the model card and TensorBoard's HParams tab.
# Everything stays on 127.0.0.1. Usage: docs/screenshots.sh [scratch-dir]   (about 5 minutes on 2 cores)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-$(mktemp -d)}
py="$here/.venv/bin/python"
flags=(--pipeline-root "$scratch/runs" --serving-dir "$scratch/serving" --epochs 8)
if [ ! -d "$scratch/runs/wide-deep" ]; then
  "$py" "$here/pipeline.py" "${flags[@]}" --run-id hidden-30 || true
  "$py" "$here/pipeline.py" "${flags[@]}" --run-id hidden-64x3 --set train.hidden_units=64 --set train.hidden_layers=3 || true
  "$py" "$here/pipeline.py" "${flags[@]}" --run-id wide-deep --set train.family=wide_deep --seed 7 || true
fi
shoot() {  # url, output png, window size, extra flags
  chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --user-data-dir="$scratch/profile" --hide-scrollbars \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --window-size="$3" "${@:4}" --screenshot="$2" "$1"
}
shoot "file://$scratch/runs/hidden-64x3/validate/report.html" "$here/docs/img/report.png" 1100,1400 --virtual-time-budget=5000
card=$(ls -d "$scratch"/serving/bank/* | sort -n -t/ -k1 | tail -1)/model_card.html
shoot "file://$card" "$here/docs/img/model_card.png" 1000,1500 --virtual-time-budget=5000
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$here/.venv/bin/tensorboard" --logdir "$scratch/runs" --host 127.0.0.1 --port "$port" >"$scratch/tb.log" 2>&1 &
tb=$!
trap 'kill $tb 2>/dev/null' EXIT
until curl -sf "http://127.0.0.1:$port/data/runs" | grep -q wide-deep; do
  kill -0 $tb || { cat "$scratch/tb.log"; exit 1; }; sleep 2
done
sleep 10  # the hparams plugin reads the event files after the runs list
shoot "http://127.0.0.1:$port/#hparams" "$here/docs/img/hparams.png" 1920,720 --virtual-time-budget=20000
echo "screenshots in $here/docs/img (runs in $scratch)"
