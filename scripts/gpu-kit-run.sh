#!/bin/sh
# Run the GPU kit on the device machine and keep everything it prints.
#
# Here (once per kit change), in the repository root of the checkout the
# session was started in (the device tool sends that checkout):
#     npm run gpu-kit                      # writes out/gpu-kit/ (~29 MiB, ignored)
# Then one call of the device tool's `run`:
#     run(command: "sh scripts/gpu-kit-run.sh", carry: ["out/gpu-kit"], timeout_s: 300)
# What travels: the tracked files (scripts/ among them) and the carried kit,
# 64 MiB at most together. On the device machine this script runs the kit's
# run.sh, which unpacks Node and Dawn, installs the Vulkan/EGL loaders into /
# when none is there (the machine runs commands as root), points the loaders
# at NVIDIA's manifests under /usr/local/nvidia when needed, and prints one
# JSON object per task. Files coming back under $OUT:
#     gpu-kit.jsonl    the JSON lines (facts, mlp, ... every task of `all`)
#     gpu-kit.stderr   what run.sh, Dawn and tfjs said on stderr
#     nvidia-smi.txt   the GPU, driver and memory as nvidia-smi sees them
# Every task runs in its own process. A first argument names one task, and
# options go to run.sh: `sh scripts/gpu-kit-run.sh facts`,
# `sh scripts/gpu-kit-run.sh mlp --steps=100`; the default is every task.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=$ROOT/out/gpu-kit
OUT=${OUT:-$ROOT/out/gpu-kit-results}
mkdir -p "$OUT"
if [ ! -f "$KIT/run.sh" ]; then
  echo "gpu-kit-run: no kit at $KIT: run 'npm run gpu-kit' before, and name out/gpu-kit in the run tool's carry" >&2
  exit 2
fi
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "gpu-kit-run: nvidia-smi failed (see $OUT/nvidia-smi.txt)" >&2
rm -f "$OUT/gpu-kit.jsonl" "$OUT/gpu-kit.stderr"; : >"$OUT/gpu-kit.jsonl"
# Each task in its own process, so a crash in native code (Dawn, a driver)
# costs that task alone; its line then says how run.sh ended.
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then tasks=$1; shift; else tasks=$(sh "$KIT/run.sh" --list 2>>"$OUT/gpu-kit.stderr"); fi
[ "$tasks" = all ] && tasks=$(sh "$KIT/run.sh" --list 2>>"$OUT/gpu-kit.stderr")
failed=0
for t in $tasks; do
  start=$(date +%s)
  before=$(wc -l <"$OUT/gpu-kit.jsonl")
  echo "=== $t" >>"$OUT/gpu-kit.stderr"
  sh "$KIT/run.sh" "$t" "$@" --out="$OUT/gpu-kit.jsonl" >/dev/null 2>>"$OUT/gpu-kit.stderr"
  rc=$?
  after=$(wc -l <"$OUT/gpu-kit.jsonl")
  if [ "$after" = "$before" ]; then
    echo "{\"task\":\"$t\",\"ok\":false,\"error\":\"run.sh exited $rc without a JSON line (a crash? see gpu-kit.stderr)\"}" >>"$OUT/gpu-kit.jsonl"
  fi
  [ $rc = 0 ] || failed=1
  echo "gpu-kit-run: $t exited $rc after $(($(date +%s) - start)) s"
done
echo "gpu-kit-run: stderr (last 40 lines):"
tail -n 40 "$OUT/gpu-kit.stderr"
echo "gpu-kit-run: JSON lines:"
cat "$OUT/gpu-kit.jsonl"
exit $failed
