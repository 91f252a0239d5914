#!/usr/bin/env bash
# The benchmark matrix, ours against PyTorch on the same GPU, in one call on a GPU host
# that has no Go (see scripts/gpu-check.sh for how .device/ is packed). From the project
# root on that host (carry .device):
#
#   bash scripts/gpu-matrix.sh
#
# It measures, most important first so that a short budget still returns the rows that
# matter: the paper's net (config alexnet; bench_torch.py --model paper) and
# torchvision's (alexnet-owt; --model owt) at batch 128 and 256, training and inference
# images/s (median and best step) and peak memory, for each precision in
# GPU_MATRIX_ORDER; PyTorch also with channels_last for the precisions in
# GPU_MATRIX_CHANNELS_LAST (our best against its best is the fair comparison); and a
# Fashion-MNIST training in bf16 whose validation top-1 must reach GPU_MATRIX_MIN_TOP1.
# Results: $OUT/matrix.md (table), $OUT/matrix.json, $OUT/logs.tgz (every step's
# stdout/stderr, the plan and the step states); both rebuilt after every step, so a
# killed run still returns what had finished. Without $OUT: ./gpu-matrix-out. A row
# that did not finish reads "failed (exit N)", "timed out (Ns)", "skipped (budget)" or
# "not reached", never blank.
#
# Device-budget arithmetic (a session has 15 minutes of device time, machine start-up
# included; one call at most 10 minutes). Per step, estimated from the H200 runs in
# docs/gpu/ (a training step of ours 15-40 ms, PyTorch's 14-45 ms, so 25 timed+warm-up
# steps of each kind are 1-3 s; the rest is start-up: CUDA context, library loading,
# cuDNN's algorithm search, and for PyTorch `import torch`, about 5-10 s):
#   our bench, one (net, batch, precision)          ~8 s   (cap 60 s)
#   PyTorch, one (net, batch, precision, layout)    ~12 s  (cap 75 s)
#   Fashion-MNIST, 8 epochs (10 s of training)      ~20 s  (cap 150 s)
#   loader benchmarks (dataset.test, all cores)     ~30 s  (cap 90 s)
#   e2e: write 20,000 JPEGs (~25 s), pack them, train 2 epochs from each   ~80 s (caps 90+60+120+90)
#   versions (nvidia-smi, alexnet devices, torch)   ~10 s
# Default order "bf16 train loader e2e tf32 fp32 fp16": bf16 = 4 rows x (ours + PyTorch
# plain + channels_last) = 12 steps ~130 s; train ~20 s; loader ~30 s; e2e ~80 s; tf32
# and fp32 8 steps each ~80 s; fp16 12 steps ~130 s. The whole matrix ~560 s, just over
# the default budget of
# 540 s; fp16, last, is the part cut when the machine is slower. With the machine's
# start (1-2 min) that is about 9.5 of the session's 15 minutes: one call, no second
# full run. Call it with the tool's timeout_s=600 (the budget leaves 60 s for the
# archive). Trims, each an environment variable:
#   GPU_MATRIX_BUDGET=540                 seconds for the whole script (steps skipped after)
#   GPU_MATRIX_ORDER="bf16 train loader e2e tf32 fp32 fp16"   precisions (fp32 tf32
#                                         bf16 fp16), "train", "loader" and "e2e", in run order; e.g.
#                                         "bf16 train" ~150 s, "bf16 train tf32" ~230 s
#   loader: the host CPU's loader throughput per core, JPEG folder against its pack
#           (`alexnet pack`) and synthetic data (.device/dataset.test, make device;
#           DATASET_TEST= another path); the table "Data loader" in matrix.md
#   e2e:    `alexnet train` of the paper's net from an ImageFolder of photo-like JPEGs
#           and from its pack, 2 epochs each (the second is the one to read; the
#           first finds cuDNN's algorithms), in GPU_MATRIX_E2E_PRECISION (bf16), on
#           GPU_MATRIX_E2E_N (20000) images written by dataset.test; the table
#           "Training from data" in matrix.md, beside the synthetic bench row
#   GPU_MATRIX_NETS="alexnet alexnet-owt" GPU_MATRIX_BATCHES="128 256"
#   GPU_MATRIX_CHANNELS_LAST="bf16 fp16"  precisions PyTorch also runs in channels_last
#                                         ("" for none, "tf32 bf16 fp16" for more)
#   GPU_MATRIX_ITERS=20 GPU_MATRIX_WARMUP=5   timed and warm-up steps of every bench
#   GPU_MATRIX_TRAIN_PRECISION=bf16 GPU_MATRIX_MIN_TOP1=90
#   ALEXNET_BIN=.device/alexnet  PYTHON=/path/to/python-with-torch
#   GPU_MATRIX_CHECK=1                    first the cudnn.test precision checks (~60 s)
# These per-step figures are estimates: the runs in docs/gpu/ logged step timings, not
# wall times. The first real run's matrix.md ends with each step's seconds; correct
# them here from it.
# Dry run on a machine without a GPU (the CPU backends, batch 2, one iteration, a
# two-step training on Debian's Fashion-MNIST, e2e on 1000 images for one epoch, no
# .device/ needed; about 190 s on 2 cores without e2e, which adds ~8 minutes, mostly
# validating 1000 images on the CPU; PyTorch's tf32 and fp16 rows fail there by design,
# CPU PyTorch has neither):
#   go build -o /tmp/alexnet . && go test -c -o /tmp/dataset.test ./internal/dataset
#   GPU_MATRIX_DRYRUN=1 ALEXNET_BIN=/tmp/alexnet DATASET_TEST=/tmp/dataset.test \
#     OUT=/tmp/matrix-dry bash scripts/gpu-matrix.sh
set -uo pipefail

dry=${GPU_MATRIX_DRYRUN:-0}
bin=${ALEXNET_BIN:-.device/alexnet}
order=${GPU_MATRIX_ORDER:-bf16 train loader e2e tf32 fp32 fp16}
e2e_precision=${GPU_MATRIX_E2E_PRECISION:-bf16}
dataset_test=${DATASET_TEST:-.device/dataset.test}
nets=${GPU_MATRIX_NETS:-alexnet alexnet-owt}
cl_precisions=${GPU_MATRIX_CHANNELS_LAST-bf16 fp16}
train_precision=${GPU_MATRIX_TRAIN_PRECISION:-bf16}
min_top1=${GPU_MATRIX_MIN_TOP1:-90}
if [[ $dry == 1 ]]; then
	budget=${GPU_MATRIX_BUDGET:-900}
	batches=${GPU_MATRIX_BATCHES:-2}
	iters=${GPU_MATRIX_ITERS:-1}
	warmup=${GPU_MATRIX_WARMUP:-1}
	backend=cpu
	cap_ours=120 cap_torch=120 cap_train=180
	torch_dev=(--device cpu --threads "$(nproc)")
	train_args=(--backend cpu --set train.max_steps=2 --set train.epochs=1 --set data.workers=2)
	e2e_n=${GPU_MATRIX_E2E_N:-1000} # the fewest: one per class
	e2e_args=(--backend cpu --set train.batch_size=2 --set train.max_steps=2)
	e2e_epochs=1 cap_e2e_data=120 cap_e2e_train=240 # validating 1000 images on 2 cores: ~75 s
else
	budget=${GPU_MATRIX_BUDGET:-540}
	batches=${GPU_MATRIX_BATCHES:-128 256}
	iters=${GPU_MATRIX_ITERS:-20}
	warmup=${GPU_MATRIX_WARMUP:-5}
	backend=cuda
	cap_ours=60 cap_torch=75 cap_train=150
	torch_dev=(--device cuda)
	train_args=(--backend cuda --set data.root=.device/fashion-mnist --set data.workers=8)
	e2e_n=${GPU_MATRIX_E2E_N:-20000}
	e2e_args=(--backend cuda --set data.workers="$(nproc)")
	e2e_epochs=2 cap_e2e_data=90 cap_e2e_train=120
fi

dest=${OUT:-gpu-matrix-out}
out=$(mktemp -d /tmp/gpu-matrix.XXXXXX)
rm -rf /tmp/gpu-matrix-e2e.* # a killed earlier run's (one run at a time on a machine)
e2e_dir=$(mktemp -d /tmp/gpu-matrix-e2e.XXXXXX) # gigabytes of images: not in the logs
e2e_data_rc=1 e2e_pack_rc=1
mkdir -p "$dest"
summariser=$(cd "$(dirname "$0")" && pwd)/gpu_matrix_summary.py
spy=python3 # the summariser's Python: any python3 (stdlib only)

# summarise: rebuilds $dest/matrix.{md,json} and $dest/logs.tgz from the work folder
# (checkpoints left out).
summarise() {
	env -u LD_LIBRARY_PATH timeout 30 "$spy" "$summariser" "$out" "$dest" >>"$out/summariser.err" 2>&1 ||
		echo "gpu-matrix: the summariser failed, see summariser.err in logs.tgz" >&2
	tar czf "$dest/logs.tgz" --exclude='*.ckpt*' -C "$out" . 2>/dev/null
}
trap 'summarise; rm -rf "$e2e_dir"' EXIT
trap 'exit 143' TERM INT

# step NAME CAP CMD...: runs CMD with the smaller of CAP and the budget left, stdout to
# $out/NAME.out and stderr to $out/NAME.err; skips it when under 10 seconds are left.
# Records "NAME state rc seconds limit" in steps.tsv and rebuilds the summary.
step() {
	local name=$1 cap=$2
	shift 2
	local left=$((budget - SECONDS))
	if ((left < 10)); then
		echo "[$name] skipped: ${left}s of the ${budget}s budget left" >&2
		printf '%s\tskipped\t-\t0\t%s\n' "$name" "$left" >>"$out/steps.tsv"
		summarise
		return 124
	fi
	local limit=$((cap < left ? cap : left))
	echo "== $name (cap ${limit}s, ${left}s left): $*" >&2
	local t0=$SECONDS
	timeout --kill-after=5 "$limit" "$@" </dev/null >"$out/$name.out" 2>"$out/$name.err"
	local rc=$? state=ok
	if ((rc == 124 || rc == 137)); then
		state=timeout
	elif ((rc != 0)); then
		state=failed
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$state" "$rc" "$((SECONDS - t0))" "$limit" >>"$out/steps.tsv"
	echo "[$name] $state (exit $rc) in $((SECONDS - t0))s" >&2
	tail -n 3 "$out/$name.err" >&2
	summarise
	return $rc
}

# Not in a dry run: env.sh unpacks .device's gzipped binaries, and a local .device
# holding both would no longer fit the device tool's carry limit.
if [[ $dry != 1 ]]; then
	if [[ ! -f .device/env.sh ]]; then
		echo "gpu-matrix: no .device/env.sh here; run make device on the development machine first" >&2
		exit 2
	fi
	# shellcheck disable=SC1091
	source .device/env.sh
fi
if [[ ! -x $bin ]]; then
	echo "gpu-matrix: $bin is missing (set ALEXNET_BIN)" >&2
fi

# A Python with PyTorch (as in gpu-check.sh); its pip nvidia-* wheels also serve the Go
# binary, so their folders join LD_LIBRARY_PATH. PyTorch itself runs without them.
py=""
for cand in ${PYTHON:-} python3 /opt/*/.venv/bin/python /opt/*/venv/bin/python /opt/conda/bin/python \
	"$HOME"/.venv/bin/python "$HOME"/*/.venv/bin/python /usr/local/bin/python3 /usr/bin/python3; do
	[[ -n $cand ]] && command -v "$cand" >/dev/null 2>&1 || continue
	if timeout 60 env -u LD_LIBRARY_PATH "$cand" -c 'import torch' >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if [[ -n $py ]]; then
	spy=$py
	wheel_libs=$(timeout 30 env -u LD_LIBRARY_PATH "$py" - <<'EOF'
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
elif ! command -v python3 >/dev/null 2>&1; then
	echo "gpu-matrix: no python3 at all: matrix.md cannot be built (the logs still come back)" >&2
fi

cat >"$out/meta.env" <<EOF
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
host=$(hostname)
dryrun=$dry
backend=$backend
budget=$budget
iters=$iters
warmup=$warmup
order=$order
min_top1=$min_top1
python=${py:-none}
alexnet_bin=$bin
EOF
cat "$out/meta.env" >&2

# Correctness before speed: the cuda backend's reduced-precision tests (bf16/fp16
# conformance against the emulated reference, cast kernels bit for bit with lowp, the
# multi-tensor SGD, AlexNet's shapes) when .device/cudnn.test is there (make device),
# about a minute of the budget; the verdict goes to $dest/precision-check.txt.
# GPU_MATRIX_CHECK=0 skips it.
if [[ $dry != 1 && ${GPU_MATRIX_CHECK:-1} == 1 && -x .device/cudnn.test ]]; then
	echo "== precision checks (cap 120s)" >&2
	timeout --kill-after=5 120 .device/cudnn.test -test.v -test.timeout 110s \
		-test.run 'Conformance|NativePrecision|CastKernels|SGDManyTensors|AlexNet' >"$out/precision-check.log" 2>&1
	rc=$?
	{
		echo "cudnn.test -test.run 'Conformance|NativePrecision|CastKernels|SGDManyTensors|AlexNet': exit $rc"
		echo "$(grep -c -- '--- PASS' "$out/precision-check.log") passed, $(grep -c -- '--- FAIL' "$out/precision-check.log") failed, $(grep -c -- '--- SKIP' "$out/precision-check.log") skipped (tests and subtests)"
		grep -E -- '--- FAIL|^(ok|FAIL|PASS)|panic' "$out/precision-check.log" | head -40
	} >"$dest/precision-check.txt"
	cat "$dest/precision-check.txt" >&2
fi

# The plan, every step in run order, so that the summary can name those never reached.
model_of() { [[ $1 == alexnet-owt ]] && echo owt || echo paper; }
is_cl() { [[ " $cl_precisions " == *" $1 "* ]]; }
: >"$out/plan.tsv"
: >"$out/steps.tsv"
for item in $order; do
	if [[ $item == train ]]; then
		printf 'fashion-%s\ttrain\tfashion-mnist\t-\t%s\t-\n' "$train_precision" "$train_precision" >>"$out/plan.tsv"
		continue
	fi
	if [[ $item == loader ]]; then
		printf 'loader\tloader\t-\t-\t-\t-\n' >>"$out/plan.tsv"
		continue
	fi
	if [[ $item == e2e ]]; then
		printf 'e2e-data\te2e-data\t-\t-\t-\t-\n' >>"$out/plan.tsv"
		printf 'e2e-pack\te2e-pack\t-\t-\t-\t-\n' >>"$out/plan.tsv"
		printf 'e2e-folder\te2e-train\talexnet\t128\t%s\tfolder\n' "$e2e_precision" >>"$out/plan.tsv"
		printf 'e2e-packed\te2e-train\talexnet\t128\t%s\tpacked\n' "$e2e_precision" >>"$out/plan.tsv"
		continue
	fi
	for b in $batches; do
		for n in $nets; do
			printf 'ours-%s-b%s-%s\tours\t%s\t%s\t%s\t-\n' "$n" "$b" "$item" "$n" "$b" "$item" >>"$out/plan.tsv"
			printf 'torch-%s-b%s-%s\ttorch\t%s\t%s\t%s\tplain\n' "$n" "$b" "$item" "$n" "$b" "$item" >>"$out/plan.tsv"
			if is_cl "$item"; then
				printf 'torch-%s-b%s-%s-cl\ttorch\t%s\t%s\t%s\tcl\n' "$n" "$b" "$item" "$n" "$b" "$item" >>"$out/plan.tsv"
			fi
		done
	done
done

# Versions first: the GPU, driver and CUDA (nvidia-smi), the libraries our binary
# loads (alexnet devices), PyTorch's CUDA and cuDNN.
{
	timeout 15 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 |
		tr '\n' ';'
	timeout 15 nvidia-smi 2>/dev/null | grep -o 'CUDA Version: *[0-9.]*'
} >"$out/nvidia-smi.out" 2>&1
[[ -x $bin ]] && timeout 30 "$bin" devices >"$out/alexnet-devices.out" 2>&1
if [[ -n $py ]]; then
	timeout 60 env -u LD_LIBRARY_PATH "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)' \
		>"$out/torch-versions.out" 2>&1
else
	echo "no Python with PyTorch found (set PYTHON=/path/to/python)" >"$out/torch-versions.out"
fi
cat "$out/nvidia-smi.out" "$out/alexnet-devices.out" "$out/torch-versions.out" >&2 2>/dev/null
summarise

# The plan, step by step.
while IFS=$'\t' read -r name kind net b prec variant; do
	case $kind in
	ours)
		step "$name" "$cap_ours" "$bin" bench --config "$net" --backend "$backend" --batch "$b" \
			--iters "$iters" --warmup "$warmup" --precision "$prec" --loader-batches 0 --json
		;;
	torch)
		if [[ -z $py ]]; then
			printf '%s\tfailed\tno-torch\t0\t0\n' "$name" >>"$out/steps.tsv"
			continue
		fi
		extra=()
		[[ $variant == cl ]] && extra=(--channels-last)
		# PyTorch brings its own cuDNN; the folders added to LD_LIBRARY_PATH for our
		# binary can hold an older one that PyTorch refuses to load.
		step "$name" "$cap_torch" env -u LD_LIBRARY_PATH "$py" scripts/bench_torch.py "${torch_dev[@]}" \
			--model "$(model_of "$net")" --batch "$b" --steps "$iters" --warmup "$warmup" \
			--precision "$prec" "${extra[@]}"
		;;
	train)
		if [[ $dry != 1 && ! -d .device/fashion-mnist ]]; then
			echo "no .device/fashion-mnist" >"$out/$name.err"
			printf '%s\tfailed\tno-data\t0\t0\n' "$name" >>"$out/steps.tsv"
			continue
		fi
		step "$name" "$cap_train" "$bin" train "${train_args[@]}" --precision "$prec" --out "$out/$name"
		;;
	e2e-data)
		if [[ ! -x $dataset_test ]]; then
			echo "no $dataset_test (make device builds it)" >"$out/$name.err"
			printf '%s\tfailed\tno-binary\t0\t0\n' "$name" >>"$out/steps.tsv"
			continue
		fi
		step "$name" "$cap_e2e_data" env ALEXNET_IMAGENET_LIKE="$e2e_dir" ALEXNET_IMAGENET_LIKE_N="$e2e_n" \
			"$dataset_test" -test.run '^TestWriteImageNetLike$' -test.v
		e2e_data_rc=$?
		;;
	e2e-pack | e2e-train)
		# Each needs what came before it: no images, nothing to pack or train on.
		need=$e2e_data_rc
		[[ $variant == packed ]] && need=$((e2e_data_rc | e2e_pack_rc))
		if ((need != 0)); then
			echo "skipped: an earlier e2e step did not finish" >"$out/$name.err"
			printf '%s\tfailed\tno-data\t0\t0\n' "$name" >>"$out/steps.tsv"
			continue
		fi
		if [[ $kind == e2e-pack ]]; then
			step "$name" 60 "$bin" pack --config alexnet --set data.root="$e2e_dir" --out "$e2e_dir/packs"
			e2e_pack_rc=$?
			continue
		fi
		data=(--set data.root="$e2e_dir")
		[[ $variant == packed ]] && data=(--set data.format=packed --set data.root="$e2e_dir/packs")
		step "$name" "$cap_e2e_train" "$bin" train --config alexnet "${e2e_args[@]}" \
			"${data[@]}" --set train.epochs="$e2e_epochs" --precision "$prec" --out "$out/$name"
		rm -f "$out/$name"/*.ckpt "$out/$name"/.*.ckpt.tmp-* # 244 MB each; the logs stay
		;;
	loader)
		if [[ ! -x $dataset_test ]]; then
			echo "no $dataset_test (make device builds it)" >"$out/$name.err"
			printf '%s\tfailed\tno-binary\t0\t0\n' "$name" >>"$out/steps.tsv"
			continue
		fi
		# 10 batches of 128 of each: JPEGs (500x375 q90, resize 256, random 224 crop,
		# flip, lighting), the same JPEGs packed, and synthetic 224x224 input.
		step "$name" 90 "$dataset_test" -test.run '^$' -test.bench 'LoaderImageNetJPEG|LoaderPacked|LoaderSynthetic' \
			-test.benchtime 10x
		;;
	esac
done <"$out/plan.tsv"

echo "total ${SECONDS}s of the ${budget}s budget" >&2
summarise
rm -rf "$e2e_dir"
trap - EXIT
echo
cat "$dest/matrix.md" 2>/dev/null
