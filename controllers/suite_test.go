package controllers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
)

// The suite runs a real kube-apiserver and etcd (KUBEBUILDER_ASSETS, built by
// `make envtest`); each spec starts graphsim and a manager of its own.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	k8sClient  client.WithWatch
	scheme     = runtime.NewScheme()
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VppToken controller")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	// Waits are for the operator's work, not timing: generous, so that a
	// loaded machine does not fail a spec.
	SetDefaultEventuallyTimeout(10 * time.Second)
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(intunev1alpha1.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start the control plane; run `make envtest` and set KUBEBUILDER_ASSETS")

	k8sClient, err = client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// ctx is for calls the specs make themselves.
var ctx = context.Background()
