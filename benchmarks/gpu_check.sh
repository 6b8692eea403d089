#!/usr/bin/env bash
# The GPU check of the throughput work, one prepared run, under 8 minutes on one H200:
#
#   1. a 28-layer Qwen3-0.6B-shaped random model (benchmarks/make_model.py);
#   2. the engine against the model card's one-item loop, bf16 on cuda, 12 new tokens
#      (benchmarks/throughput.py);
#   3. the pipeline's ratio to the engine there: `guardq label` embedded (the worker's
#      pipeline on SQLite, no broker) against the engine alone on the same texts
#      (benchmarks/embedded.py), with one engine process and then with
#      GPU_CHECK_ENGINE_PROCESSES (2) on the one GPU (GUARDQ_WORKERS_PER_DEVICE). The GPU
#      machine has no Postgres and no Redis.
#
# Run from anywhere:  bash benchmarks/gpu_check.sh
# Figures go to stdout; with OUT set, also to $OUT (gpu_check.log, *.json, summary.json).
#
# Packages the GPU machine lacks (SQLAlchemy, Alembic, pydantic-settings, Celery, ...)
# travel as wheels in .whl/ (git-ignored; fetch them with `pip download`, see the
# README's benchmarks section) and are installed first into /tmp/site.
#
# Knobs (environment): GPU_CHECK_DEVICE (cuda), GPU_CHECK_DTYPE (bfloat16),
# GPU_CHECK_LAYERS (the preset's 28), GPU_CHECK_N (texts for the engine against the
# loop, 2048), GPU_CHECK_REFERENCE_ITEMS (48), GPU_CHECK_LABEL_N (texts for the
# pipeline against the engine, 8192), GPU_CHECK_BATCH_TOKENS (32768), PYTHON (python3),
# GPU_CHECK_WHEELS (1: install .whl/), GPU_CHECK_SKIP_LOOP (1: the pipeline part only),
# GPU_CHECK_ENGINE_PROCESSES (2; 1: no second label run).
# A dry run of the CPU-compatible parts:
#   PYTHON=.venv/bin/python GPU_CHECK_WHEELS=0 GPU_CHECK_DEVICE=cpu GPU_CHECK_DTYPE=float32 \
#     GPU_CHECK_LAYERS=1 GPU_CHECK_N=64 GPU_CHECK_REFERENCE_ITEMS=4 GPU_CHECK_LABEL_N=200 \
#     bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
DTYPE=${GPU_CHECK_DTYPE:-bfloat16}
LAYERS=${GPU_CHECK_LAYERS:-28}
N=${GPU_CHECK_N:-2048}
REFERENCE_ITEMS=${GPU_CHECK_REFERENCE_ITEMS:-48}
LABEL_N=${GPU_CHECK_LABEL_N:-8192}
ENGINE_PROCESSES=${GPU_CHECK_ENGINE_PROCESSES:-2}
BATCH_TOKENS=${GPU_CHECK_BATCH_TOKENS:-32768}
WORK=$(mktemp -d /tmp/gpu-check.XXXXXX)
RESULTS=${OUT:-$WORK/results}
mkdir -p "$RESULTS"
MODEL=$WORK/qwen3-0.6b
# The model is gigabytes; the results (in $WORK/results without OUT) stay.
trap 'rm -rf "$MODEL"' EXIT
started=$SECONDS

step() { printf '\n== %s (%ss so far)\n' "$1" "$((SECONDS - started))"; }

# Each measurement is bounded, and a failed one does not stop the other.
failed=0
measure() {
    local name=$1 status=0
    shift
    timeout 180 "$PYTHON" "$@" --json | tee "$WORK/$name.txt" || status=${PIPESTATUS[0]}
    if [ "$status" = 0 ]; then
        tail -n 1 "$WORK/$name.txt" > "$RESULTS/$name.json"
    else
        echo "!! $name failed or ran past 180 s (exit $status)"
        failed=1
    fi
}

main() {
step "environment"
if [ "${GPU_CHECK_WHEELS:-1}" = 1 ] && compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
# No internet there: never wait on the Hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Both sides of the pipeline comparison read these (benchmarks/embedded.py): answers of
# 12 tokens, as in the loop comparison; big batches, as a GPU deployment sets; and the
# random model's unparsable answers blocked rather than all escalated to review.
export GUARDQ_MAX_NEW_TOKENS=12 GUARDQ_MAX_BATCH_TOKENS=$BATCH_TOKENS
export GUARDQ_POLICY='{"unparsed": "block"}'
unset GUARDQ_BROKER_URL GUARDQ_DATABASE_URL GUARDQ_RESULT_BACKEND_URL
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PYTHON" - <<'EOF'
import sys

import torch
import transformers

print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, cuda {torch.cuda.is_available()}")
import guardq.cli, worker.engine, worker.inprocess  # noqa: E401,F401 - fail here, not later
EOF

step "model: qwen3-0.6b shape, $LAYERS layers, random weights"
"$PYTHON" benchmarks/make_model.py --preset qwen3-0.6b --layers "$LAYERS" --out "$MODEL"

step "engine against the model card's loop ($DEVICE, $DTYPE, $N texts, 12 new tokens)"
[ "${GPU_CHECK_SKIP_LOOP:-0}" = 1 ] || measure throughput benchmarks/throughput.py --model "$MODEL" --device "$DEVICE" \
    --dtype "$DTYPE" --n "$N" --reference-items "$REFERENCE_ITEMS" --max-new-tokens 12 \
    --ignore-eos --max-batch-tokens "$BATCH_TOKENS"

step "embedded pipeline (guardq label, SQLite) against the engine alone ($LABEL_N texts)"
measure embedded benchmarks/embedded.py --model "$MODEL" --device "$DEVICE" \
    --dtype "$DTYPE" --n "$LABEL_N"
if [ "$ENGINE_PROCESSES" -gt 1 ]; then
    step "the same with $ENGINE_PROCESSES engine processes on the one device"
    measure embedded_processes benchmarks/embedded.py --model "$MODEL" --device "$DEVICE" \
        --dtype "$DTYPE" --n "$LABEL_N" --workers-per-device "$ENGINE_PROCESSES"
fi

step "summary"
"$PYTHON" - "$RESULTS" "$LAYERS" <<'EOF'
import json
import sys
from pathlib import Path

results, layers = Path(sys.argv[1]), int(sys.argv[2])
summary = {"model": f"qwen3-0.6b shape, {layers} layers, random weights"}
if (results / "throughput.json").is_file():
    loop = json.loads((results / "throughput.json").read_text())
    keys = ("device", "dtype", "engine_items_per_s", "reference_items_per_s", "speedup",
            "parity", "compute_efficiency")
    summary.update({key: loop[key] for key in keys})
if (results / "embedded.json").is_file():
    embedded = json.loads((results / "embedded.json").read_text())
    summary.update(
        pipeline_engine_alone_items_per_s=embedded["engine"]["items_per_s"],
        pipeline_label_rows_per_s=embedded["label"]["rows_per_s"],
        pipeline_ratio_to_engine=embedded["label"]["ratio_to_engine"],
        label_startup_s=embedded["label"]["startup_s"],
        label_peak_rss_mb=embedded["label"]["peak_rss_mb"],
    )
if (results / "embedded_processes.json").is_file():
    label = json.loads((results / "embedded_processes.json").read_text())["label"]
    summary.update(
        engine_processes=label["workers_per_device"],
        processes_label_rows_per_s=label["rows_per_s"],
        processes_ratio_to_engine=label["ratio_to_engine"],
        processes_tree_peak_rss_mb=label["tree_peak_rss_mb"],
    )
(results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
EOF
printf '\ndone in %ss; results in %s\n' "$((SECONDS - started))" "$RESULTS"
return "$failed"
}

main 2>&1 | tee -a "$RESULTS/gpu_check.log"
exit "${PIPESTATUS[0]}"
