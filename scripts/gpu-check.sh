#!/usr/bin/env bash
# The whole GPU check in one go, on a GPU host that has no Go (see
# ../shared/device/README.md). On the development machine, from the project root:
#
#   ../shared/device/pack.sh                                   # builds .device/alexnet
#   go test -c -o .device/cudnn.test ./internal/cudnn          # the GPU backend's tests
#
# then on the GPU host, from the project root (carry .device):
#
#   bash scripts/gpu-check.sh
#
# It prints the GPU and library versions, runs the cuda backend's tests (the shared
# conformance suite against the reference backend, plus AlexNet's shapes at batch
# 128), the project's benchmark and a short training run (once those commands exist),
# and the PyTorch baseline on the same GPU. Every step has a time cap and the whole
# script a budget (GPU_CHECK_BUDGET seconds, default 280), so it ends well within
# five minutes. Logs and summary.txt go to $OUT when set, else ./gpu-check-out.
set -uo pipefail

budget=${GPU_CHECK_BUDGET:-420}
# Logs go to a work folder and come back as one archive plus summary.txt (the device
# tool returns only a few files).
dest=${OUT:-gpu-check-out}
out=$(mktemp -d /tmp/gpu-check.XXXXXX)
mkdir -p "$dest"
trap 'cp "$summary" "$dest/" 2>/dev/null; tar czf "$dest/logs.tgz" -C "$out" . 2>/dev/null' EXIT
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

# step NAME CAP CMD...: runs CMD with the smaller of CAP and the budget left, logging
# to $out/NAME.log; skips it when under 10 seconds are left. Returns CMD's status.
step() {
	local name=$1 cap=$2
	shift 2
	local left=$((budget - SECONDS))
	if ((left < 10)); then
		note "[$name] skipped: ${left}s of the ${budget}s budget left"
		return 124
	fi
	local limit=$((cap < left ? cap : left))
	echo "== $name (cap ${limit}s): $*" >&2
	local t0=$SECONDS
	timeout --kill-after=5 "$limit" "$@" >"$out/$name.log" 2>&1
	local rc=$?
	cat "$out/$name.log"
	if ((rc == 124 || rc == 137)); then
		note "[$name] TIMED OUT after ${limit}s"
	else
		note "[$name] exit $rc in $((SECONDS - t0))s"
	fi
	return $rc
}

if [[ ! -f .device/env.sh ]]; then
	echo "gpu-check: no .device/env.sh here; run ../shared/device/pack.sh on the development machine first" >&2
	exit 2
fi
# shellcheck disable=SC1091
source .device/env.sh

# A Python with PyTorch, for the baseline; its pip nvidia-* wheels (CUDA 13, cuDNN 9)
# also serve the Go binary, so their folders join LD_LIBRARY_PATH.
py=""
for cand in ${PYTHON:-} python3 /opt/*/.venv/bin/python /opt/*/venv/bin/python /opt/conda/bin/python \
	"$HOME"/.venv/bin/python "$HOME"/*/.venv/bin/python /usr/local/bin/python3; do
	[[ -n $cand ]] && command -v "$cand" >/dev/null 2>&1 || continue
	if timeout 60 "$cand" -c 'import torch' >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if [[ -n $py ]]; then
	wheel_libs=$(timeout 30 "$py" - <<'EOF'
import glob, os, sysconfig
for sp in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
    for d in sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib"))):
        print(d)
EOF
	)
	for d in $wheel_libs; do
		case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d" ;; esac
	done
	export LD_LIBRARY_PATH
fi

note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
note "python with torch: ${py:-none found}"
note "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

# 1. The machine.
if step nvidia-smi 15 nvidia-smi; then
	note "$(timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)"
fi
if [[ -n $py ]]; then
	step torch-versions 60 env -u LD_LIBRARY_PATH "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)'
	tail -n1 "$out/torch-versions.log" >>"$summary"
fi

# 2. What the Go backend finds: libraries, versions, GPUs.
if [[ -x .device/alexnet ]]; then
	if step alexnet-devices 30 .device/alexnet devices; then
		cat "$out/alexnet-devices.log" >>"$summary"
	fi
else
	note "[alexnet-devices] .device/alexnet missing: run ../shared/device/pack.sh"
fi

# 3. The cuda backend's tests on the GPU: conformance (fp32, TF32, heuristic
# algorithms), threads, AlexNet's shapes at batch 128. -test.v logs every comparison's
# largest difference.
if [[ -x .device/cudnn.test ]]; then
	step cudnn-test 120 .device/cudnn.test -test.v -test.timeout 110s
	rc=$?
	{
		grep -E '^(--- |ok|FAIL|PASS)' "$out/cudnn-test.log" | grep -vE '^    ' | grep -E '^--- (FAIL|SKIP)|^(ok|FAIL|PASS)' || true
		echo "tests: $(grep -c '^--- PASS' "$out/cudnn-test.log") passed, $(grep -c -- '--- FAIL' "$out/cudnn-test.log") failed (top-level and subtests), exit $rc"
		grep -E 'conv[0-9] .*algo|memory: in use|loaded ' "$out/cudnn-test.log" | sed 's/^ *//' || true
	} >>"$summary"
else
	note "[cudnn-test] .device/cudnn.test missing: go test -c -o .device/cudnn.test ./internal/cudnn"
fi

# 4. The whole network on the GPU against PyTorch's fixture (logits, loss, every
# gradient, weights after 3 SGD steps), then the project's benchmark of the paper's
# net at batch 128 (fp32, then TF32 allowed), and a Fashion-MNIST training.
if [[ -x .device/model.test ]]; then
	step model-test 60 bash -c 'cd internal/model && ../../.device/model.test -test.v -test.run TinyNet -test.timeout 50s'
	grep -E '^\s*--- |^(ok|FAIL|PASS)' "$out/model-test.log" >>"$summary" || true
	step towers-test 60 bash -c 'cd internal/model && ../../.device/model.test -test.v -test.run TowersEqualSingleDevice -test.timeout 50s'
	grep -E '^\s*--- |^(ok|FAIL|PASS)' "$out/towers-test.log" >>"$summary" || true
	step alexnet-bench-towers 60 .device/alexnet bench --config alexnet --backend cuda --batch 128 --iters 10 --warmup 3 --devices 0,0
	tail -n 5 "$out/alexnet-bench-towers.log" >>"$summary"
fi
if [[ -x .device/alexnet ]]; then
	step alexnet-bench-fp32 60 .device/alexnet bench --config alexnet --backend cuda --batch 128 --iters 10 --warmup 3 --json
	grep -E '"(train|infer)_images_per_sec|peak_backend_bytes|train_step_ms"' "$out/alexnet-bench-fp32.log" | tr -d '\n' >>"$summary"; echo >>"$summary"
	step alexnet-bench-tf32 60 env ALEXNET_CUDA_TF32=1 .device/alexnet bench --config alexnet --backend cuda --batch 128 --iters 10 --warmup 3
	tail -n 4 "$out/alexnet-bench-tf32.log" >>"$summary"
fi

# 5. The PyTorch baseline on the same GPU, fp32 then TF32.
if [[ -n $py ]]; then
	# PyTorch brings its own cuDNN; the folders added to LD_LIBRARY_PATH for our binary
	# can hold an older one that PyTorch refuses to load, so it runs without them.
	step torch-bench-fp32 45 env -u LD_LIBRARY_PATH "$py" scripts/bench_torch.py --device cuda --batch 128 --steps 20 --warmup 5
	tail -n1 "$out/torch-bench-fp32.log" >>"$summary"
	step torch-bench-tf32 45 env -u LD_LIBRARY_PATH "$py" scripts/bench_torch.py --device cuda --batch 128 --steps 20 --warmup 5 --tf32
	tail -n1 "$out/torch-bench-tf32.log" >>"$summary"
else
	note "[torch-bench] skipped: no Python with PyTorch found (set PYTHON=/path/to/python)"
fi

# 6. The default Fashion-MNIST training on the GPU (the data travels in .device/).
if [[ -x .device/alexnet && -d .device/fashion-mnist ]]; then
	step alexnet-train 150 .device/alexnet train --backend cuda --out "$out/fashion" --set data.root=.device/fashion-mnist --set data.workers=8
	tail -n 3 "$out/alexnet-train.log" >>"$summary"
fi

note "total ${SECONDS}s"
echo
echo "===== summary ($summary) ====="
cat "$summary"
