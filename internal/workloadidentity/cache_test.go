package workloadidentity

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func TestWorkloadIdentity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "workloadidentity")
}

var (
	ctx = context.Background()
	k8s client.Client
)

var _ = BeforeSuite(func() {
	env := &envtest.Environment{}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred(), "start the control plane; run `make envtest` and set KUBEBUILDER_ASSETS")
	DeferCleanup(env.Stop)
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "intune"}})).To(Succeed())
})

var _ = Describe("The token cache", func() {
	key := Key{Namespace: "default", Name: "intune"}

	It("requests an hour's token for the exchange audience and keeps it for most of its life", func() {
		now := time.Now()
		c := NewCache(k8s)
		c.now = func() time.Time { return now }

		first, err := c.Get(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(first.Value, ".")).To(Equal(2), "a JWT")
		Expect(first.Issuer).To(HavePrefix("https://127.0.0.1:"))
		Expect(first.expiresAt.Sub(now)).To(BeNumerically("~", time.Hour, time.Minute))

		now = now.Add(47 * time.Minute)
		again, err := c.Get(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Value).To(Equal(first.Value), "reused within 80% of its life")

		now = now.Add(2 * time.Minute)
		renewed, err := c.Get(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		Expect(renewed.Value).NotTo(Equal(first.Value), "replaced once 80% of its life has passed")
	})

	It("passes the API server's errors on, and caches nothing for them", func() {
		c := NewCache(k8s)
		_, err := c.Get(ctx, Key{Namespace: "default", Name: "absent"})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
		Expect(c.entries[Key{Namespace: "default", Name: "absent"}].issued.Value).To(BeEmpty())
	})

	It("drops the tokens of ServiceAccounts no longer asked for once they expire", func() {
		now := time.Now()
		c := NewCache(k8s)
		c.now = func() time.Time { return now }
		_, err := c.Get(ctx, key)
		Expect(err).NotTo(HaveOccurred())

		now = now.Add(2 * time.Hour)
		_, _ = c.Get(ctx, Key{Namespace: "default", Name: "absent"})
		Expect(c.entries).NotTo(HaveKey(key))
	})
})
