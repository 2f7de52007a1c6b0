#!/usr/bin/env bash
# The focus methods' tables at the official training settings, fp32 and bf16, then the cost-growth sweeps:
# what docs/benchmarks.md asks a GPU session to measure (on a CPU the official batches take hours).
#   bash benchmarks/official_settings.sh [OUT_DIR]      # OUT_DIR/<name>.txt (the table) and .json (the rows)
# PYTHON picks the interpreter (default python3); each run is capped by TIMEOUT seconds (default 600).
set -u
out=${1:-bench_out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=${PYTHON:-python3}
cd "$(dirname "$0")"
run() {  # name, then the script and its arguments
    local name=$1; shift
    echo "== $name: $*"
    timeout "${TIMEOUT:-600}" "$py" "$@" --json "$out/$name.json" > "$out/$name.txt" 2> "$out/$name.err"
    echo "exit $?"; grep -v '^$' "$out/$name.txt" | tail -n 12
}
run funit bench_funit.py --size 128 --batch 64 --classes 119 --steps 5 --warmup 2
run gpunit bench_gpunit.py --size 256 --batch 16 --vgg-weights random --steps 5 --warmup 2
run deepi2i bench_deepi2i.py --size 128 --batch 8 --accumulate 4 --classes 10 --steps 3 --warmup 1   # batch 32
run funit_growth bench_funit.py --size 64 128 256 --batch 16 --classes 119 --steps 3 --warmup 1
run gpunit_growth bench_gpunit.py --size 64 128 --batch 16 --vgg-weights random --steps 3 --warmup 1
run deepi2i_growth bench_deepi2i.py --size 64 256 --batch 8 --classes 10 --steps 3 --warmup 1
