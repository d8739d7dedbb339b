package config_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"
)

// The suite renders config/default with the kubectl built next to the control plane
// (KUBEBUILDER_ASSETS, built by `make envtest`) and checks the result on a real
// kube-apiserver and etcd: what the API server admits, and what the manifests say.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config

	// rendered holds the objects of `kubectl kustomize config/default`, in output order.
	rendered []*unstructured.Unstructured
)

// renderTimeout bounds one run of kubectl kustomize.
const renderTimeout = 2 * time.Minute

func TestConfig(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Deployment manifests")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is unset: run `make envtest` and set it "+
		"to the directory holding kube-apiserver, etcd and kubectl, such as bin/k8s/1.37.2")

	var err error
	rendered, err = decodeObjects(render(filepath.Join(assets, "kubectl"), "default"))
	Expect(err).NotTo(HaveOccurred())
	Expect(rendered).NotTo(BeEmpty(), "kubectl kustomize config/default rendered no objects")

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start the control plane from KUBEBUILDER_ASSETS=%s", assets)
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// ctx is for calls the specs make themselves.
var ctx = context.Background()

// render runs `kubectl kustomize` on dir, a path relative to this package, and returns
// what it prints.
func render(kubectl, dir string) []byte {
	abs, err := filepath.Abs(dir)
	Expect(err).NotTo(HaveOccurred())

	runCtx, cancel := context.WithTimeout(ctx, renderTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, kubectl, "kustomize", abs)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "%s kustomize %s: %s", kubectl, abs, stderr.String())
	return out
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(stream []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objects []*unstructured.Unstructured
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read rendered document: %w", err)
		}

		data, err := yaml.YAMLToJSON(document)
		if err != nil {
			return nil, fmt.Errorf("convert rendered document: %w", err)
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || string(trimmed) == "null" {
			continue
		}
		object := &unstructured.Unstructured{}
		if err := object.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("decode rendered document: %w", err)
		}
		objects = append(objects, object)
	}
}

// warningRecorder keeps the warnings the API server sends with its replies: pod security's
// "would violate PodSecurity", unknown or duplicate fields, deprecated APIs.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (r *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, text)
}

// take returns the warnings recorded since the last call and forgets them.
func (r *warningRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	taken := r.warnings
	r.warnings = nil
	return taken
}

// newRecordingClient returns a client of the test API server whose replies' warnings are
// kept in the returned recorder instead of being logged.
func newRecordingClient() (client.Client, *warningRecorder) {
	recorder := &warningRecorder{}
	config := rest.CopyConfig(restConfig)
	config.WarningHandler = nil
	config.WarningHandlerWithContext = recorder

	c, err := client.New(config, client.Options{Scheme: clientgoscheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c, recorder
}
