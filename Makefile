# connect-token-operator — build, test and run. `make help` lists the targets.

# Image URL to use all building/pushing image targets.
IMG ?= ghcr.io/tokenop/connect-token-operator:v0.1.0

# Kubernetes release whose kube-apiserver, etcd and kubectl are built from Go modules (hack/envtest).
K8S_VERSION ?= 1.37.2
GOOS ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)

LOCALBIN ?= $(shell pwd)/bin
# KUBEBUILDER_ASSETS is honoured when already set (for example by setup-envtest); otherwise the
# binaries are built from modules into bin/k8s.
ENVTEST_DIR := $(LOCALBIN)/k8s/$(K8S_VERSION)-$(GOOS)-$(GOARCH)
KUBEBUILDER_ASSETS ?= $(ENVTEST_DIR)
export KUBEBUILDER_ASSETS
KUBECTL ?= $(KUBEBUILDER_ASSETS)/kubectl

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
PROMTOOL ?= $(LOCALBIN)/promtool
HELM ?= $(LOCALBIN)/helm
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and the RBAC ClusterRole from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@$(MAKE) --no-print-directory chart-files

.PHONY: chart-files
chart-files: ## Copy the generated CRD and manager rules, the alert rules and the dashboard into dist/chart.
	@cp config/crd/bases/*.yaml dist/chart/crds/
	@cp config/rbac/role.yaml dist/chart/files/manager-role.yaml
	@cp config/prometheus/rules/connecttoken.rules.yaml dist/chart/files/connecttoken.rules.yaml
	@mkdir -p dist/chart/files/dashboards && cp config/grafana/*.json dist/chart/files/dashboards/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods (zz_generated.deepcopy.go).
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (configuration in .golangci.yml).
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: verify
verify: generate manifests build-installer ## Regenerate code and manifests; fail when the checked-in copies are stale.
	@go mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change: $$(gofmt -l $$(git ls-files '*.go'))"; exit 1; }
	@stale=$$(git status --porcelain -- api config dist | grep -v '^??' || true); \
	new=$$(git status --porcelain --untracked-files=all -- api config dist | grep '^??' || true); \
	if [ -n "$$stale$$new" ]; then \
	  echo "Generated files are stale; run 'make generate manifests' and commit:"; echo "$$stale$$new"; \
	  git --no-pager diff --stat -- api config dist; exit 1; fi
	@echo "verify: generated code and manifests are current"

.PHONY: test
test: verify vet lint envtest build helm test-alerts test-chart ## Run verify, vet, lint and every test (unit, envtest, end-to-end) — the CI command.
	go test ./... -count=1 -timeout 20m

.PHONY: test-alerts
test-alerts: promtool ## Check and unit-test the alert rules, and parse the dashboard queries, with promtool.
	PROMTOOL=$(PROMTOOL) bash hack/promtool/test.sh

.PHONY: test-chart
test-chart: helm ## Lint and render the Helm chart (several value sets) and run its tests (internal/chart).
	HELM=$(HELM) hack/helm/test.sh

.PHONY: test-e2e
test-e2e: envtest build build-installer ## Run the end-to-end suite: real bin/manager, bin/fake-connect and kubectl.
	go test ./test/e2e/ -count=1 -timeout 15m

.PHONY: demo
demo: envtest build ## Run the operator end to end on a local control plane and narrate it (DEMO_DURATION, ISSUER_URL, CLIENT_ID, CLIENT_SECRET, SCOPES).
	go run ./hack/demo

.PHONY: test-unit
test-unit: envtest build helm ## Run the Go tests only (no verify or lint).
	go test ./... -count=1 -timeout 20m

.PHONY: bench
bench: envtest build ## Benchmark against the API server's write ceiling: N=2000, 3 repetitions (docs/benchmarks.md).
	go run ./test/bench

.PHONY: bench-quick
bench-quick: envtest build ## Quick benchmark for development: N=200, one repetition, under two minutes.
	go run ./test/bench -n 200 -reps 1 -plot ""

##@ Build

.PHONY: build
build: ## Build bin/manager and bin/fake-connect (the fake WorkOS Connect server).
	go build -o $(LOCALBIN)/manager ./cmd
	go build -o $(LOCALBIN)/fake-connect ./cmd/fake-connect

.PHONY: run
run: manifests generate ## Run the manager from your host against the current kubeconfig.
	go run ./cmd

.PHONY: build-installer
build-installer: manifests generate envtest ## Render dist/install.yaml (CRD, RBAC, Deployment) from config/default.
	@mkdir -p dist
	@{ echo "# connect-token-operator installer, rendered by 'make build-installer' from config/default. Do not edit."; \
	  $(KUBECTL) kustomize config/default; } > dist/install.yaml

.PHONY: docker-build
docker-build: ## Build the manager container image (needs a container engine).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager container image.
	docker push $(IMG)

##@ Deployment

.PHONY: install
install: manifests envtest ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests envtest ## Uninstall the CRDs from the cluster of the current kubeconfig.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

##@ Dependencies

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl from Go modules into bin/k8s (skipped when present or KUBEBUILDER_ASSETS is set elsewhere).
	@if [ "$(KUBEBUILDER_ASSETS)" = "$(ENVTEST_DIR)" ]; then hack/envtest/build.sh "$(ENVTEST_DIR)" >/dev/null; \
	else echo "using KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"; fi

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen (pinned in hack/tools/go.mod).
$(CONTROLLER_GEN): hack/tools/go.mod
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: helm
helm: ## Build helm (pinned in hack/helm/go.mod) into bin/helm; skipped when that version is there.
	@hack/helm/build.sh $(HELM) >/dev/null

.PHONY: promtool
promtool: $(PROMTOOL) ## Build promtool (pinned in hack/promtool/go.mod).
$(PROMTOOL): hack/promtool/go.mod
	rm -f $(PROMTOOL) && bash hack/promtool/build.sh $(PROMTOOL)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Build golangci-lint (pinned in hack/tools/go.mod).
$(GOLANGCI_LINT): hack/tools/go.mod
	cd hack/tools && go build -o $(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint
