#!/usr/bin/env bash
# One prepared measurement on an NVIDIA GPU machine (issue 32, item 8; at
# most 8 minutes): `repro bench train` and `bench epoch` on the Vulkan
# backend, eager PyTorch's epoch on the same GPU in the same run, and one
# training against eight at once: as --jobs 8 in one process, and as eight
# processes (--executor processes).
# Expects, beside the checkout (ignored folders, carried): gpu-bin/repro.xz
# (a stripped `--features vulkan` build) and .gl/*.deb (the Vulkan loader).
# Results go to $OUT (or ./gpu-results).
set -uo pipefail
out="${OUT:-gpu-results}"
mkdir -p "$out"
# GPU_CHECK_LOCAL=1: a dry run here (no loader unpacked into /).
if [ -z "${GPU_CHECK_LOCAL:-}" ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
# GPU_CHECK_REPRO=path: that binary instead of gpu-bin/repro.xz (a dry run).
repro="${GPU_CHECK_REPRO:-/tmp/repro}"
[ -n "${GPU_CHECK_REPRO:-}" ] || { xz -dc gpu-bin/repro.xz > /tmp/repro && chmod +x /tmp/repro; }
batches="${GPU_CHECK_BATCHES:-782}" eval_images="${GPU_CHECK_EVAL:-10000}"
{ nproc; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; } | tee "$out/machine.txt"
run() { # NAME SECONDS COMMAND...: its output to $OUT/NAME.txt, time included
    local name=$1 limit=${GPU_CHECK_TIMEOUT:-$2} started=$SECONDS
    shift 2
    echo "== $name: $*" | tee "$out/$name.txt"
    timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.txt"
    echo "exit ${PIPESTATUS[0]}, wall $((SECONDS - started)) s" | tee -a "$out/$name.txt"
}
# GPU_CHECK_ONLY=jobs: only the stages-sharing part below.
if [ "${GPU_CHECK_ONLY:-}" != jobs ]; then
    run bench-train 150 "$repro" --backend vulkan bench train --steps 40
    run bench-epoch 200 "$repro" --backend vulkan bench epoch --batches "$batches" --eval-images "$eval_images" --epochs 2
    run torch-epoch 90 python3 bench/torch_gpu_epoch.py --train $((batches * 64)) --eval "$eval_images" --epochs 3
fi
# Stages sharing one GPU (item 2): one full-size training epoch alone, then
# eight at once (bench/gpu-jobs.toml, synthetic data: nothing to carry).
jobs_toml="${GPU_CHECK_JOBS_TOML:-bench/gpu-jobs.toml}"
jobs_dir="$(mktemp -d)"
cp "$jobs_toml" "$jobs_dir/pipeline.toml"
run data 60 bash -c "cd '$jobs_dir' && '$repro' --backend vulkan run stage data --no-remote"
# The same store with the data built, for the eight as processes below.
procs_dir="$(mktemp -d)"
cp -a "$jobs_dir/." "$procs_dir/"
run jobs-1 120 bash -c "cd '$jobs_dir' && '$repro' --backend vulkan run stage t0 --no-remote"
run jobs-8 300 bash -c "cd '$jobs_dir' && '$repro' --backend vulkan run stage t1 t2 t3 t4 t5 t6 t7 t8 --jobs 8 --no-remote"
# The same eight with `--executor processes`: each stage a process of its
# own (so its own device client and queue), the build's threads shared:
# whether --jobs 8 in one process is limited by sharing one client.
run procs-8 300 bash -c "cd '$procs_dir' && '$repro' --backend vulkan run stage t1 t2 t3 t4 t5 t6 t7 t8 --executor processes --jobs 8 --no-remote"
