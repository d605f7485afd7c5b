#!/usr/bin/env bash
# GPU training throughput for the course: one script for a lent H200 (or any CUDA GPU).
#
# Runs benchmarks/train_throughput.py with bert-base-uncased at max_length 128 in bf16:
#   (a) the course engine (dynamic padding + length bucketing),
#   (b) HF Trainer with padding="max_length",
#   (c) HF Trainer with dynamic padding + group_by_length,
# and prints sequences/s, tokens/s, peak GPU memory and MFU for each, then the ratios.
# Without hub access it times a randomly initialised bert-base (same shapes, same speed).
# Budget: under 8 minutes in all (hub check at most 30 s, benchmark at most 7 min).
#
# Usage:  bash benchmarks/gpu.sh            # on the GPU machine, from anywhere in the repo
#         bash benchmarks/gpu.sh --dry-run  # tiny model on CPU: checks the script only
# Knobs:  BATCH (default 256), STEPS (default 60), WARMUP (default 10), PYTHON, OUT (results folder)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
BATCH="${BATCH:-256}"
STEPS="${STEPS:-60}"
WARMUP="${WARMUP:-10}"
RESULTS="${OUT:-benchmarks/results}"
mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
export TOKENIZERS_PARALLELISM=false

if [[ "${1:-}" == "--dry-run" ]]; then
    echo "dry run: tiny model on CPU"
    exec "$PYTHON" benchmarks/train_throughput.py --dry-run --device cpu --json "$RESULTS/dry-run-$STAMP.json"
fi

echo "== machine ($STAMP)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
"$PYTHON" - <<'EOF'
import torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"cuda {torch.version.cuda}, device {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NONE'}, "
      f"bf16 {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
if not torch.cuda.is_available():
    raise SystemExit("No CUDA GPU visible: run this on the GPU machine (or use --dry-run).")
EOF

# Fetch bert-base-uncased if the hub is reachable (quickly); otherwise the benchmark
# falls back to a random-init bert-base and says so.
if [[ "${HF_HUB_OFFLINE:-0}" != "1" ]]; then
    timeout 30 "$PYTHON" -c "
from huggingface_hub import snapshot_download
snapshot_download('bert-base-uncased', allow_patterns=['*.json', '*.txt', '*.safetensors'])
print('bert-base-uncased weights available')" 2>/dev/null || { echo "hub unreachable: random-init bert-base"; export HF_HUB_OFFLINE=1; }
fi

echo "== bert-base, max_length 128, bf16, batch $BATCH, $STEPS timed steps after $WARMUP warm-up"
timeout 420 "$PYTHON" benchmarks/train_throughput.py \
    --model bert-base-uncased --max-length 128 --precision bf16 \
    --batch-size "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --device cuda \
    --json "$RESULTS/gpu-$STAMP.json" 2>&1 | grep -v -i "warn" | tee "$RESULTS/gpu-$STAMP.txt"
echo "results: $RESULTS/gpu-$STAMP.txt and .json"
