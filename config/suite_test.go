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

// The suite renders config/default with the pinned kustomize (`make kustomize`) and checks
// the result on a real kube-apiserver and etcd (KUBEBUILDER_ASSETS, `make envtest`) that also
// serves the Prometheus Operator's CRDs (`make prometheus-crds`): what the API server admits,
// and what the manifests say.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config

	// kustomize is the path of the kustomize binary render runs.
	kustomize string

	// rendered holds the objects of `kustomize build config/default`, in output order.
	rendered []*unstructured.Unstructured

	// renderedWithPrometheus holds the objects of config/default with its optional
	// ../prometheus entry enabled, as the README tells users to.
	renderedWithPrometheus []*unstructured.Unstructured
)

const (
	// renderTimeout bounds one run of kustomize.
	renderTimeout = 2 * time.Minute

	// prometheusCRDs is where `make prometheus-crds` puts the ServiceMonitor and
	// PrometheusRule CRDs, relative to this package.
	prometheusCRDs = "../bin/crds/monitoring.coreos.com"

	// prometheusEntry is config/default's commented-out resource entry for config/prometheus.
	prometheusEntry = "#- ../prometheus"
)

func TestConfig(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Deployment manifests")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS is unset: run `make envtest` and set it "+
		"to the directory holding kube-apiserver, etcd and kubectl, such as bin/k8s/1.37.2")

	kustomize = os.Getenv("KUSTOMIZE")
	if kustomize == "" {
		kustomize = filepath.Join("..", "bin", "kustomize")
	}
	_, err := os.Stat(kustomize)
	Expect(err).NotTo(HaveOccurred(), "no kustomize at %s: run `make kustomize`, or set "+
		"KUSTOMIZE to a kustomize v5 binary", kustomize)
	_, err = os.Stat(prometheusCRDs)
	Expect(err).NotTo(HaveOccurred(), "no Prometheus Operator CRDs in %s: run "+
		"`make prometheus-crds`", prometheusCRDs)

	rendered, err = decodeObjects(render("default"))
	Expect(err).NotTo(HaveOccurred())
	Expect(rendered).NotTo(BeEmpty(), "kustomize build config/default rendered no objects")

	renderedWithPrometheus, err = decodeObjects(renderWithPrometheus())
	Expect(err).NotTo(HaveOccurred())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("crd", "bases"), prometheusCRDs},
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

// render runs `kustomize build` on dir, absolute or relative to this package, and returns
// what it prints.
func render(dir string) []byte {
	abs, err := filepath.Abs(dir)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())

	runCtx, cancel := context.WithTimeout(ctx, renderTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(runCtx, kustomize, "build", abs)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s build %s: %s", kustomize, abs,
		stderr.String())
	return out
}

// renderWithPrometheus renders config/default with its ../prometheus entry uncommented, in a
// copy of this directory.
func renderWithPrometheus() []byte {
	copied := GinkgoT().TempDir()
	ExpectWithOffset(1, os.CopyFS(copied, os.DirFS("."))).To(Succeed())

	path := filepath.Join(copied, "default", "kustomization.yaml")
	kustomization, err := os.ReadFile(path)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, bytes.Count(kustomization, []byte(prometheusEntry))).To(Equal(1),
		"config/default/kustomization.yaml should hold the entry %q once", prometheusEntry)
	enabled := bytes.Replace(kustomization, []byte(prometheusEntry), []byte("- ../prometheus"), 1)
	ExpectWithOffset(1, os.WriteFile(path, enabled, 0o644)).To(Succeed())

	return render(filepath.Join(copied, "default"))
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

// expectDryRunApplies applies each object in a server-side apply with dry-run, as the
// specs' field owner and with opts, and expects the API server to accept each without a
// warning. warnings is c's recorder: a warning left from an earlier call fails the first
// object.
func expectDryRunApplies(c client.Client, warnings *warningRecorder,
	objects []*unstructured.Unstructured, opts ...client.ApplyOption,
) {
	GinkgoHelper()
	opts = append([]client.ApplyOption{client.FieldOwner(fieldOwner), client.DryRunAll}, opts...)
	for _, object := range objects {
		apply := client.ApplyConfigurationFromUnstructured(object.DeepCopy())
		err := c.Apply(ctx, apply, opts...)
		Expect(err).NotTo(HaveOccurred(), describe(object))
		Expect(warnings.take()).To(BeEmpty(), describe(object))
	}
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
