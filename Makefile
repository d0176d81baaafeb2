# grlscaler. `make run` runs the main job; `make test` runs the tests.
SHELL := /bin/bash
GO ?= go
# The model's matrix kernels (model/kernel) use Go 1.26's experimental SIMD
# package, simd/archsimd, for AVX2/FMA micro-kernels; built without
# GOEXPERIMENT=simd they fall back to pure Go (same API, a few times slower).
export GOEXPERIMENT ?= simd
BIN := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
# versitygw is the local S3 server the objstore tests start on loopback
# (infra/objstore StartLocalServer finds it through GRL_VERSITYGW).
VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(BIN)/versitygw-$(VERSITYGW_VERSION)
# The Temporal CLI, whose `server start-dev` is the local Temporal server
# with its web UI (worker end-to-end tests find it through GRL_TEMPORAL).
# v1.5.1 is the newest that `go install` accepts (later versions carry a
# replace directive); about 12 CPU-minutes cold.
TEMPORAL_VERSION := v1.5.1
TEMPORAL := $(BIN)/temporal-$(TEMPORAL_VERSION)
# A real Kubernetes control plane on loopback for `make e2e` (make
# cluster-up): etcd, the Kubernetes binaries (built from throwaway modules,
# infra/localk8s/build.sh), kwok for fake nodes and metrics-server. About 45
# CPU-minutes cold, most of it k8s.io/kubernetes.
ETCD_VERSION := v3.7.3
KUBE_VERSION := v1.37.2
KWOK_VERSION := v0.8.0
METRICS_SERVER_VERSION := v0.9.0
ETCD := $(BIN)/etcd-$(ETCD_VERSION)
KUBE_APISERVER := $(BIN)/kube-apiserver-$(KUBE_VERSION)
KUBE_CONTROLLER_MANAGER := $(BIN)/kube-controller-manager-$(KUBE_VERSION)
KUBE_SCHEDULER := $(BIN)/kube-scheduler-$(KUBE_VERSION)
KUBECTL := $(BIN)/kubectl-$(KUBE_VERSION)
KUBE_BINS := $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(KUBE_SCHEDULER) $(KUBECTL)
KWOK := $(BIN)/kwok-$(KWOK_VERSION)
# kwok's Stages (what its fake kubelets do), copied from the kwok module.
KWOK_STAGES := $(BIN)/kwok-stages-$(KWOK_VERSION).yaml
METRICS_SERVER := $(BIN)/metrics-server-$(METRICS_SERVER_VERSION)
K8S_TOOLS := $(ETCD) $(KUBE_BINS) $(KWOK) $(KWOK_STAGES) $(METRICS_SERVER)
# Build scratch space (Go's temp dirs and the throwaway modules); the
# leading underscore keeps a leftover of an interrupted build out of ./...
BUILD_TMP := $(BIN)/_tmp
# The local cluster's state: certificates, kubeconfig (admin), etcd data,
# logs and pid files. Ports and the number of fake nodes: see
# infra/localk8s/common.sh.
K8S_DIR ?= $(CURDIR)/.grlscaler/k8s
K8S_ENV := K8S_DIR=$(K8S_DIR) ETCD=$(ETCD) KUBE_APISERVER=$(KUBE_APISERVER) \
	KUBE_CONTROLLER_MANAGER=$(KUBE_CONTROLLER_MANAGER) KUBE_SCHEDULER=$(KUBE_SCHEDULER) \
	KUBECTL=$(KUBECTL) KWOK=$(KWOK) KWOK_STAGES=$(KWOK_STAGES) METRICS_SERVER=$(METRICS_SERVER)

.PHONY: all build test test-short bench bench-pipeline bench-quality run sim lint fmt vet staticcheck check-deps tools debian-deps k8s-tools cluster-up cluster-down e2e clean

all: build

build:
	$(GO) build -o $(BIN)/grlctl ./cmd/grlctl

# The README's test command. Tests that need servers start real ones on
# loopback (built by `make tools`); the race detector is on.
test: tools
	GRL_VERSITYGW=$(VERSITYGW) GRL_TEMPORAL=$(TEMPORAL) $(GO) test -race -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short -count=1 ./...

# A real Kubernetes control plane on loopback (kwok fake nodes,
# metrics-server, the real HPA controller); kubeconfig in $(K8S_DIR).
cluster-up: k8s-tools
	@$(K8S_ENV) bash infra/localk8s/cluster-up.sh

cluster-down:
	@K8S_DIR=$(K8S_DIR) bash infra/localk8s/cluster-down.sh

# The end-to-end tests against that cluster: up, test, down (also when a
# test fails or make is interrupted).
e2e: k8s-tools tools
	@trap 'K8S_DIR=$(K8S_DIR) bash infra/localk8s/cluster-down.sh' EXIT; \
	$(K8S_ENV) bash infra/localk8s/cluster-up.sh && \
	GRL_KUBECONFIG=$(K8S_DIR)/kubeconfig GRL_VERSITYGW=$(VERSITYGW) GRL_TEMPORAL=$(TEMPORAL) $(GO) test -v -count=1 -timeout 30m ./e2e/...

# Speed and memory targets live in benchmarks, not in timed tests.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./envs/... ./model/...

# Per-chunk overhead of the pipeline (Temporal round trips, checkpoint save
# and load) against in-process training, on the real local stack.
bench-pipeline: tools
	GRL_VERSITYGW=$(VERSITYGW) GRL_TEMPORAL=$(TEMPORAL) $(GO) test -run '^$$' -bench ChunkOverhead -benchtime 3x -count=1 -timeout 20m ./worker

# Learning quality: do the trained agents beat the best HPA? Runs
# examples/beat-hpa.yaml and examples/beat-hpa-redis.yaml through the local
# stack and prints their verdicts and wall times (about 20 minutes).
bench-quality: build tools
	bash scripts/bench-quality.sh

# The main job: the local stack (Temporal dev server with its web UI, an S3
# server, a worker) runs the quickstart experiment on the simulated cluster.
run: build tools
	bash scripts/run.sh

# One scenario on the twin under the HPA, without the pipeline.
sim: build
	$(BIN)/grlctl sim --app onlineboutique --scenario peak --controller hpa --hpa-cpu 50 --seed 7

lint: fmt vet staticcheck check-deps

# Workflows must stay deterministic orchestration: they may import the
# Temporal SDK and workflows/api, never client-go, minio-go or gorgonia.
check-deps:
	@bad=$$($(GO) list -deps ./workflows/... | grep -E '^(k8s\.io|sigs\.k8s\.io|github\.com/minio|gorgonia\.org)' || true); \
	if [ -n "$$bad" ]; then echo "workflows must not depend on:"; echo "$$bad"; exit 1; fi

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Pinned tools are built once into bin/ and rebuilt only when the pin changes.
tools: $(STATICCHECK) $(VERSITYGW) $(TEMPORAL) debian-deps

# Debian packages the tests use: Locust (load generation), redis-py for
# its Redis user classes (for /usr/bin/python3, the interpreter of
# /usr/bin/locust) and redis-server as their target. Installed only when
# missing (apt-get needs root, as on CI).
debian-deps:
	@if ! command -v locust >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import redis' 2>/dev/null || ! command -v redis-server >/dev/null 2>&1; then \
		echo "installing python3-locust, python3-redis and redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-locust python3-redis redis-server; \
	fi

# The local Kubernetes' binaries, pinned like the tools above.
k8s-tools: $(K8S_TOOLS)

$(ETCD):
	@mkdir -p $(BUILD_TMP)
	TMPDIR=$(BUILD_TMP) GO=$(GO) bash infra/localk8s/build.sh etcd $(ETCD_VERSION) $(BIN)

$(KUBE_BINS) &:
	@mkdir -p $(BUILD_TMP)
	TMPDIR=$(BUILD_TMP) GO=$(GO) bash infra/localk8s/build.sh kube $(KUBE_VERSION) $(BIN)

$(KWOK):
	@mkdir -p $(BUILD_TMP)
	TMPDIR=$(BUILD_TMP) GOEXPERIMENT= GOBIN=$(BIN) $(GO) install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	mv $(BIN)/kwok $@

$(KWOK_STAGES):
	@mkdir -p $(BUILD_TMP)
	TMPDIR=$(BUILD_TMP) GO=$(GO) bash infra/localk8s/kwok-stages.sh $(KWOK_VERSION) > $@.tmp
	mv $@.tmp $@

$(METRICS_SERVER):
	@mkdir -p $(BUILD_TMP)
	TMPDIR=$(BUILD_TMP) GOEXPERIMENT= GOBIN=$(BIN) $(GO) install sigs.k8s.io/metrics-server/cmd/metrics-server@$(METRICS_SERVER_VERSION)
	mv $(BIN)/metrics-server $@

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOEXPERIMENT= GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

$(VERSITYGW):
	@mkdir -p $(BIN)
	GOEXPERIMENT= GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	mv $(BIN)/versitygw $@

$(TEMPORAL):
	@mkdir -p $(BIN)
	GOEXPERIMENT= GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)
	mv $(BIN)/temporal $@

clean:
	rm -rf $(BIN)
