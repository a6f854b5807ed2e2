#!/usr/bin/env bash
# Time saved by --resume after a kill -9 during the vulnerability stage (issue 14).
# One uninterrupted run, one killed once 60% of its vulnerability steps are done, then
# --resume; prints the three times, the ratio resume / uninterrupted, and checks that the
# resumed results equal the uninterrupted ones (timing and environment aside).
#   OMP_NUM_THREADS=1 bash benchmarks/resume.sh [MODEL] [PROMPTS]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-smollm2-135m}
PROMPTS=${2:-48}
LT=.venv/bin/layertracer
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LAYERTRACER_CHECKPOINT_SECONDS=5 LAYERTRACER_PROGRESS_INTERVAL=2
ARGS=(--model "$MODEL" --max-prompts "$PROMPTS" --no-report)
now() { date +%s.%N; }

start=$(now); $LT run "${ARGS[@]}" --quiet --out "$WORK/whole" >/dev/null; whole=$(echo "$(now) - $start" | bc)
start=$(now)
$LT run "${ARGS[@]}" --out "$WORK/cut" >/dev/null 2>"$WORK/cut.log" &
pid=$!
until awk -F'[:/ ]+' '/^vulnerability: [0-9]+\/[0-9]+ steps, .*elapsed/ {if ($2 >= $3 * 0.6) f=1}
                      END {exit !f}' "$WORK/cut.log"; do sleep 0.5; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
killed=$(echo "$(now) - $start" | bc)
start=$(now); $LT run "${ARGS[@]}" --quiet --out "$WORK/cut" --resume >/dev/null; resumed=$(echo "$(now) - $start" | bc)

printf 'uninterrupted %.1f s; killed after %.1f s (%s); resume %.1f s; resume / uninterrupted %.2f\n' \
    "$whole" "$killed" "$(grep '^vulnerability' "$WORK/cut.log" | tail -1)" "$resumed" \
    "$(echo "$resumed / $whole" | bc -l)"
.venv/bin/python - "$WORK" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
a, b = (json.loads((work / n / "results.json").read_text()) for n in ("whole", "cut"))
print("resumed batches:", b["environment"].get("resumed_batches"))
for d in (a, b):
    d.pop("timing"), d.pop("environment")
print("results equal:", a == b)
PY
