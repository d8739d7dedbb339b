# vpp-operator

# Versions of the local control plane. The binaries are built from the Go
# module proxy by the modules under hack/tools; see `make envtest`.
KUBE_VERSION ?= 1.37.2
ENVTEST_DIR  ?= $(CURDIR)/bin/k8s/$(KUBE_VERSION)
KUBEBUILDER_ASSETS ?= $(ENVTEST_DIR)
export KUBEBUILDER_ASSETS

IMG ?= vpp-operator:dev

# Everything builds without cgo: the manager and the control plane need none, the image needs a
# static binary, and one build configuration lets tests, tools and the image share Go's cache.
export CGO_ENABLED ?= 0

BIN            := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
# The config tests find kustomize through this variable.
KUSTOMIZE      := $(BIN)/kustomize
export KUSTOMIZE
# The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, for the config tests;
# see `make prometheus-crds`.
PROMETHEUS_OPERATOR        := github.com/prometheus-operator/prometheus-operator
PROMETHEUS_OPERATOR_VERSION ?= v0.85.0
PROMETHEUS_CRDS            := $(BIN)/crds/monitoring.coreos.com
# The demo and tests use the kubectl built with the control plane; the
# real-cluster targets use yours (override with KUBECTL=...).
DEMO_KUBECTL   := $(ENVTEST_DIR)/kubectl
KUBECTL        ?= kubectl
GO_SOURCES     := $(shell find . -name '*.go' -not -path './bin/*' -not -path './hack/tools/*')

.DEFAULT_GOAL := help

##@ First steps

.PHONY: demo
demo: envtest build ## Run the operator end to end on a local control plane and Graph simulator; DEMO_ARGS=--keep leaves it running.
	@# Built, not `go run`: go run turns the Ctrl-C that ends a --keep demo into a failure.
	go build -o $(BIN)/run-demo ./hack/demo
	$(BIN)/run-demo --bin $(BIN) --assets $(ENVTEST_DIR) --kubectl $(DEMO_KUBECTL) $(DEMO_ARGS)

.PHONY: test
test: envtest kustomize prometheus-crds verify-generated vet ## Check generated files, vet, run every test on a real API server, then fuzz.
	go test ./... -count=1
	@$(MAKE) --no-print-directory fuzz

# The benchmark's flags, such as BENCH_ARGS="-tokens 500 -tenants 10 -skip-baseline";
# `go run ./hack/bench -h` lists them.
BENCH_ARGS ?=

.PHONY: bench
bench: envtest build ## Measure the operator at scale against Intune's limits and a baseline script; writes hack/bench/results/.
	go run ./hack/bench -manager $(BIN)/manager -crds config/crd/bases -out hack/bench/results $(BENCH_ARGS)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z_-]+:.*##/ { printf "  %-18s %s\n", $$1, $$2 } \
		/^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests, and the Helm chart's copies of them and the alerts.
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=workload-identity-role paths=./internal/workloadidentity/... \
		output:rbac:artifacts:config=config/rbac/workload-identity
	go run ./hack/helmgen

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when generated code or manifests are out of date.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

# Go fuzzes one target per run, so each parser gets its own FUZZTIME. Inputs
# that break a target land in internal/graph/testdata/fuzz, where plain
# `go test` replays them. The budget is a count of inputs, not a duration: in
# Go 1.26 a duration can end the run with a spurious "context deadline
# exceeded" on a busy machine (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 50000x

.PHONY: fuzz
fuzz: ## Fuzz the Graph reply parsers, FUZZTIME (50000x inputs) each; FUZZTIME=2000000x to hunt.
	go test ./internal/graph -run '^$$' -fuzz '^FuzzDecodeVppToken$$' -fuzztime $(FUZZTIME) -parallel 2
	go test ./internal/graph -run '^$$' -fuzz '^FuzzParseAPIError$$' -fuzztime $(FUZZTIME) -parallel 2
	go test ./internal/graph -run '^$$' -fuzz '^FuzzRetryAfter$$' -fuzztime $(FUZZTIME) -parallel 2

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -w $(GO_SOURCES)

.PHONY: build
build: $(BIN)/manager $(BIN)/graphsim ## Build the manager and the Graph simulator.

$(BIN)/manager: $(GO_SOURCES) go.mod go.sum
	go build -o $@ .

$(BIN)/graphsim: $(GO_SOURCES) go.mod go.sum
	go build -o $@ ./hack/graphsim

# The image's architecture, and the version and revision in the manager and the image's labels.
# The defaults are computed once, as the variables are exported below.
IMAGE_ARCH ?= $(shell go env GOARCH)
ifeq ($(origin VERSION),undefined)
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
ifeq ($(origin REVISION),undefined)
REVISION   := $(shell git rev-parse HEAD 2>/dev/null)
endif
IMAGE_TAR  := $(BIN)/vpp-operator-image.tar
# The image's CA bundle; empty means Mozilla's roots, from a pinned Go module.
CA_BUNDLE  ?=

# The recipes read these as environment variables ("$$IMG"), never as text in their command
# lines, so that a quote or semicolon in a value is a character hack/render-install.sh or
# hack/image refuses, not shell code run before either can. make passes a value from the
# environment on as it is, but expands one given on its command line, so a $ there is refused
# before anything runs.
export IMG VERSION REVISION CA_BUNDLE
$(foreach var,IMG VERSION REVISION CA_BUNDLE,$(if $(and $(filter command,$(origin $(var))), \
  $(findstring $$,$(value $(var)))),$(error $(var) holds a $$, which make would expand: an \
  image reference, version, revision or file name has none)))

.PHONY: image
image: ## Assemble image IMG without a container engine: bin/vpp-operator-image.tar (docker save format, for `docker load -i`).
	@# IMAGE_ARCH is written into the commands below, so it may only be one of hack/image's.
	$(if $(filter-out amd64 arm64 ppc64le s390x riscv64,$(IMAGE_ARCH))$(filter-out 1,$(words $(IMAGE_ARCH))), \
		$(error IMAGE_ARCH is not one GOARCH the image supports: amd64, arm64, ppc64le, s390x or riscv64))
	@# go build splits -ldflags at spaces and reads quotes in it.
	@case "$$VERSION" in ''|*[!A-Za-z0-9._+-]*) \
		printf "VERSION='%s' is not a version such as v1.2.3 or what git describe prints: %s\n" \
			"$$VERSION" "it goes into the linker's flags, so give letters, digits, ., _, + and - only" >&2; \
		exit 2;; \
	esac
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) go build -trimpath \
		-ldflags "-s -w -X main.version=$$VERSION" -o $(BIN)/linux-$(IMAGE_ARCH)/manager .
	go run ./hack/image --binary=$(BIN)/linux-$(IMAGE_ARCH)/manager --arch=$(IMAGE_ARCH) \
		--ca-bundle="$$CA_BUNDLE" --version="$$VERSION" --revision="$$REVISION" --tag="$$IMG" \
		--output=$(IMAGE_TAR)

##@ Local control plane

.PHONY: envtest
envtest: $(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/kubectl $(ENVTEST_DIR)/etcd ## Build kube-apiserver, kubectl and etcd into bin/k8s (about 5 minutes cold).

# The version stamps a Kubernetes release build sets, so that `kubectl version` and the API
# server's /version say 1.37.2 rather than an unparsable development version.
KUBE_VERSION_VARS := gitVersion=v$(KUBE_VERSION) gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION))) \
	gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) gitTreeState=clean
KUBE_LDFLAGS := $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	$(foreach var,$(KUBE_VERSION_VARS),-X $(pkg).$(var)))

$(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/kubectl &: hack/tools/kube/go.mod hack/tools/kube/go.sum
	@mkdir -p $(ENVTEST_DIR)
	cd hack/tools/kube && go build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(ENVTEST_DIR)/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
	@touch $(ENVTEST_DIR)/kube-apiserver $(ENVTEST_DIR)/kubectl

$(ENVTEST_DIR)/etcd: hack/tools/etcd/go.mod hack/tools/etcd/go.sum
	@mkdir -p $(ENVTEST_DIR)
	cd hack/tools/etcd && go build -trimpath -o $@ go.etcd.io/etcd/server/v3
	@touch $@

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod hack/tools/controller-gen/go.sum
	cd hack/tools/controller-gen && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build the pinned kustomize into bin/.

$(KUSTOMIZE): hack/tools/kustomize/go.mod hack/tools/kustomize/go.sum
	cd hack/tools/kustomize && go build -o $@ sigs.k8s.io/kustomize/kustomize/v5

# The CRDs come from the Prometheus Operator's release module on the Go module proxy (about
# 4 MB), like the other tools; they are not committed.
.PHONY: prometheus-crds
prometheus-crds: $(PROMETHEUS_CRDS)/monitoring.coreos.com_servicemonitors.yaml ## Fetch the ServiceMonitor and PrometheusRule CRDs the config tests install.

$(PROMETHEUS_CRDS)/monitoring.coreos.com_servicemonitors.yaml: Makefile
	@mkdir -p $(PROMETHEUS_CRDS)
	dir=$$(go mod download -json $(PROMETHEUS_OPERATOR)@$(PROMETHEUS_OPERATOR_VERSION) \
		| sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && test -n "$$dir" && \
	for kind in servicemonitors prometheusrules; do \
		install -m 0644 "$$dir/example/prometheus-operator-crd/monitoring.coreos.com_$$kind.yaml" \
			$(PROMETHEUS_CRDS)/ || exit 1; \
	done

##@ Real cluster (uses your kubectl and its current context)

.PHONY: install
install: $(KUSTOMIZE) ## Install the CRD into the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: $(KUSTOMIZE) ## Remove the CRD, and with it every VppToken.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: run
run: install ## Run the manager from this machine against the cluster.
	go run . $(ARGS)

.PHONY: build-installer
build-installer: $(KUSTOMIZE) ## Write dist/install.yaml: config/default, running image IMG.
	@mkdir -p dist
	hack/render-install.sh "$$IMG" > dist/install.yaml.tmp \
		|| { rm -f dist/install.yaml.tmp; exit 1; }
	@mv dist/install.yaml.tmp dist/install.yaml

.PHONY: deploy
deploy: $(KUSTOMIZE) ## Deploy the operator with kustomize, running image IMG.
	@# Rendered first, so that a refused IMG stops the target instead of applying nothing.
	manifests=$$(hack/render-install.sh "$$IMG") && \
		printf '%s\n' "$$manifests" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove the operator, its CRD and with it every VppToken.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -
