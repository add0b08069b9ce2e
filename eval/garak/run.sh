#!/usr/bin/env bash
# Run garak's offline prompt-injection probes (latentinjection, promptinject, encoding, web_injection)
# through its REST generator against a locally served assistant (real default stack), loopback only.
#
#   GARAK=/path/to/venv/bin/python eval/garak/run.sh        # garak installed in its own venv
#
# garak is not a project dependency (it pulls ~190 packages, torch among them): install it apart,
# torch first so pip takes the local CPU wheel:  python3.11 -m venv /tmp/gv &&
#   /tmp/gv/bin/pip install torch==2.13.0 && /tmp/gv/bin/pip install garak==0.17.1
set -euo pipefail
cd "$(dirname "$0")/../.."
GARAK=${GARAK:-/tmp/gv/bin/python}
PORT=8765
DATA=$(mktemp -d)
export HF_HUB_OFFLINE=1 ASSISTANT_DATA_DIR="$DATA" ASSISTANT_CHAT__RATE_PER_S=1000 ASSISTANT_CHAT__BURST=1000
.venv/bin/python -m assistant index >/dev/null
.venv/bin/python -m assistant serve --host 127.0.0.1 --port $PORT >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 1; done
"$GARAK" -m garak --config eval/garak/rest.yaml "$@"
