# rbgs: make help lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
KUBECTL := $(BIN)/kubectl
# envtest runs the same etcd and kube-apiserver as the local cluster.
export KUBEBUILDER_ASSETS := $(BIN)

GO_PACKAGES_UNIT := ./api/... ./internal/... ./cmd/... ./test/bench

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

##@ Build
.PHONY: build
build: ## Build the operator into bin/manager, the kubectl plugin into bin/kubectl-rbgs and its completion hook bin/kubectl_complete-rbgs.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/kubectl-rbgs ./cmd/kubectl-rbgs
	@# kubectl 1.26+ runs kubectl_complete-rbgs from PATH to complete "kubectl rbgs ...".
	printf '%s\n' '#!/bin/sh' 'exec kubectl-rbgs __complete "$$@"' > $(BIN)/kubectl_complete-rbgs
	chmod +x $(BIN)/kubectl_complete-rbgs

IMG ?= rbgs-manager:latest
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)

.PHONY: image
image: ## Build the manager image IMG with docker or podman (CONTAINER_TOOL).
	@if [[ -z "$(CONTAINER_TOOL)" ]]; then echo "no container engine (docker or podman) found: set CONTAINER_TOOL"; exit 1; fi
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs (config/crd/bases), RBAC (config/rbac) and webhook registration (config/webhook, config/local).
	$(CONTROLLER_GEN) rbac:roleName=rbgs-manager-role crd:generateEmbeddedObjectMeta=true webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	go run ./hack/localwebhook config/webhook/manifests.yaml > config/local/webhook.yaml

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the deepcopy functions of the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: chart-sync
chart-sync: ## Copy the generated CRDs, RBAC and webhook registration, and the admission policy, into the Helm chart.
	rm -f charts/rbgs/crds/*.yaml
	cp config/crd/bases/*.yaml charts/rbgs/crds/
	cp config/rbac/role.yaml charts/rbgs/files/role.yaml
	cp config/webhook/manifests.yaml charts/rbgs/files/webhook.yaml
	cp config/admission/worker-index.yaml charts/rbgs/files/worker-index.yaml

.PHONY: api-docs
api-docs: ## Generate docs/API_REFERENCE.md from the CRDs.
	go run ./hack/apidocs config/crd/bases/*.yaml > docs/API_REFERENCE.md

# Files the generators own; make verify fails when one is stale.
GENERATED := config/crd config/rbac/role.yaml config/webhook/manifests.yaml config/local/webhook.yaml \
	api/v1alpha1/zz_generated.deepcopy.go docs/API_REFERENCE.md charts/rbgs/crds charts/rbgs/files

.PHONY: verify
verify: manifests generate api-docs chart-sync ## Regenerate everything and fail if a generated file was stale, or Go code is not gofmt-ed.
	@stale="$$(git status --porcelain -- $(GENERATED))"; \
	if [[ -n "$${stale}" ]]; then echo "generated files are stale (run make manifests generate api-docs chart-sync):"; echo "$${stale}"; git --no-pager diff -- $(GENERATED) | head -50; exit 1; fi
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [[ -n "$${unformatted}" ]]; then echo "not gofmt-ed: $${unformatted}"; exit 1; fi
	go vet ./...

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: tools
tools: ## Build every missing tool and cluster binary into bin/.
	hack/tools.sh

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

$(KUBECTL):
	hack/tools.sh kubectl

##@ Local cluster
.PHONY: cluster-up
cluster-up: ## Build what is missing and start the local cluster (prints its KUBECONFIG).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster.
	hack/cluster.sh down

.PHONY: install
install: ## Install the CRDs and the webhook registration into the cluster KUBECONFIG names.
	hack/install.sh

.PHONY: uninstall
uninstall: ## Remove the CRDs (and every group and set) and the webhook registration.
	hack/install.sh uninstall

.PHONY: demo
demo: ## Start the local cluster and the operator, and run the sample set.
	hack/demo.sh

.PHONY: demo-stop
demo-stop: ## Stop the operator started by make demo, and the local cluster.
	hack/demo.sh stop

##@ Test
.PHONY: test
test: test-unit test-fuzz test-integration test-e2e ## Run every test: unit, a short fuzz run, envtest integration, end to end.

.PHONY: test-unit
test-unit: ## Unit tests (no API server).
	go test -count=1 $(GO_PACKAGES_UNIT)

# Fuzz targets as package:Target:executions; go test fuzzes one target at a
# time. The runs are bounded by executions (about 10 s each here), not by
# time: Go before 1.27 can fail a time-bounded run with "context deadline
# exceeded" when a loaded machine delays its workers' shutdown
# (go.dev/issue/75804). FUZZTIME (e.g. 60s or 100000x) overrides every bound.
FUZZ_TARGETS := ./internal/graph:FuzzValidate:60000x ./internal/discovery:FuzzClusterFiles:4000x ./internal/controller/group:FuzzRender:6000x \
	./internal/validation:FuzzTemplateCollisions:8000x
FUZZTIME ?=

.PHONY: test-fuzz
test-fuzz: ## Fuzz the renderers and validation (failing inputs land in testdata/fuzz).
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; rest=$${t#*:}; \
	  go test -run '^$$' -fuzz "^$${rest%%:*}$$" -fuzztime "$(or $(FUZZTIME),$${rest#*:})" "$$pkg" || exit 1; done

.PHONY: test-integration
test-integration: ## Integration tests on envtest (real etcd and kube-apiserver).
	hack/tools.sh etcd kube-apiserver kubectl
	go test -count=1 ./test/integration/...

.PHONY: test-e2e
test-e2e: ## End-to-end tests on a fresh local cluster, stopped afterwards.
	hack/e2e.sh

##@ Benchmark
.PHONY: bench
bench: ## Measure the operator against the cluster's own floor (docs/benchmarks.md); SIZES=10,100 to choose.
	hack/bench.sh $(if $(SIZES),-sizes $(SIZES))
