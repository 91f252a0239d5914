# Two commands do the whole set-up on a fresh Debian machine:
#   make demo   installs what is missing, builds, trains the default, evaluates, predicts
#   make test   runs the tests (what .ci/run calls)
GO      ?= go
BIN     ?= ./alexnet
RUN     ?= runs/demo
APT_PKGS = libdnnl-dev dataset-fashion-mnist
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build test demo deps bench fixtures device clean

build:
	CGO_ENABLED=1 $(GO) build -buildvcs=auto -o $(BIN) .

# go.mod and go.sum must be tidy (go mod tidy -diff prints what would change and fails).
# After the native run, the paths this machine does not take by default, so that
# every machine checks both: oneDNN's AVX2 kernels (8-channel blocks) where the CPU
# has AVX-512 (16), and Go's JPEG decoder where libturbojpeg is installed. -count=1:
# Go's test cache does not see DNNL_MAX_CPU_ISA, which only oneDNN's C code reads.
test:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) test ./...
	DNNL_MAX_CPU_ISA=AVX2 $(GO) test -count=1 ./internal/onednn ./internal/backend/... ./internal/model
	ALEXNET_TURBOJPEG=0 $(GO) test -count=1 ./internal/dataset ./internal/app

deps:
	@missing=""; \
	[ -e /usr/include/oneapi/dnnl/dnnl.h ] || missing="$$missing libdnnl-dev"; \
	[ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	ls /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0* >/dev/null 2>&1 || missing="$$missing libturbojpeg0"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The demo's folder is its own and made anew each time: train refuses to write over
# an earlier run anywhere else.
demo: deps build
	rm -rf $(RUN)
	$(BIN) train --out $(RUN)
	$(BIN) eval --weights $(RUN)/best.ckpt
	$(BIN) predict --weights $(RUN)/best.ckpt docs/samples/ankle-boot.png docs/samples/trouser.png

bench: build
	$(BIN) bench --config alexnet --batch 32 --backend cpu

# Regenerates the committed test fixtures; needs Debian's python3-torch.
fixtures:
	/usr/bin/python3 scripts/make_fixtures.py

# Builds .device/ for a GPU host without Go (see scripts/gpu-check.sh), with the test
# binaries and Fashion-MNIST for the check's training run.
device:
	../shared/device/pack.sh
	cd .device/debs && apt-get download libturbojpeg0   # loaded at run time, so pack.sh does not see it
	$(GO) test -c -ldflags "-s -w" -o .device/cudnn.test ./internal/cudnn
	$(GO) test -c -ldflags "-s -w" -o .device/model.test ./internal/model
	$(GO) test -c -ldflags "-s -w" -o .device/dataset.test ./internal/dataset   # loader benchmarks (gpu-matrix.sh)
	mkdir -p .device/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .device/fashion-mnist/
	# The binaries gzipped keep .device under the device tool's 64 MiB carry limit
	# (68 MiB plain, ~51 gzipped); env.sh, which both GPU scripts source first, unpacks them.
	gzip -9f .device/alexnet .device/*.test
	printf '%s\n' '# make device: unpack the gzipped binaries, unless a newer plain one is there' \
	  '# (gunzip keeps the build time, so a stale unpacked copy is older than its .gz)' \
	  'for z in "$$here"/*.gz; do [ "$${z%.gz}" -nt "$$z" ] || gunzip -kf "$$z"; done' >> .device/env.sh
	@du -sh .device | cut -f1 | sed 's/^/.device (carry limit 64 MiB): /'

clean:
	rm -rf $(BIN) .device
