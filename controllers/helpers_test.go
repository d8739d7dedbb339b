package controllers

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	opmetrics "github.com/vpp-operator/vpp-operator/internal/metrics"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
)

// Planted values: the specs check that none of them leaves the operator.
const (
	tenantID       = "5b6c2f0e-8a41-4d3c-9e27-1f0a6b8c4d21"
	clientID       = "0c9e4a7b-2d18-4f63-a5b0-7e3d9c1f8a42"
	clientSecret   = "planted-client-secret~Zq8.vT3"
	deniedClientID = "7a2d5e91-4c3b-4e8f-b6a0-9d1c2e3f4a5b"
	deniedSecret   = "planted-denied-secret~Hh2.pL9"
	appleToken     = "planted-apple-token-eyJleHAiOjE3OTk5OTk5OTl9"

	seedTokenID = "276433d2-33d2-2764-d233-6427d2336427"
	secretName  = "intune-app"

	// A second tenant, for specs about tenants not holding each other up.
	otherTenantID   = "e3a9c6d2-1b4f-4a87-9d05-8c2e7f6b1a93"
	otherSecret     = "planted-other-secret~Mm4.kR6"
	otherSecretName = "other-tenant-app"
)

// seedToken is the example reply of the syncLicenses documentation page, as
// graphsim serves it: wrapped in "value", with +03:00 offsets, 7 fractional
// digits and placeholder enum values.
func seedToken() graphsim.VppToken {
	return graphsim.VppToken{ReplyShape: graphsim.ShapeWrapped, Properties: map[string]any{
		"id":                      seedTokenID,
		"organizationName":        "Organization Name value",
		"vppTokenAccountType":     "String",
		"appleId":                 "Apple Id value",
		"expirationDateTime":      "2017-01-01T00:02:19.5114528+03:00",
		"lastSyncDateTime":        "2017-01-01T00:01:38.9161849+03:00",
		"token":                   appleToken,
		"lastModifiedDateTime":    "2016-12-31T23:59:09.8413999+03:00",
		"state":                   "String",
		"lastSyncStatus":          "String",
		"automaticallyUpdateApps": true,
		"countryOrRegion":         "Country Or Region value",
	}}
}

// validToken is a healthy business token that Intune has never synced.
func validToken(id string) graphsim.VppToken {
	return graphsim.VppToken{Properties: map[string]any{
		"id":                      id,
		"organizationName":        "Contoso Ltd",
		"vppTokenAccountType":     "business",
		"appleId":                 "vpp@contoso.example",
		"expirationDateTime":      "2027-06-30T12:00:00.1234567+02:00",
		"lastSyncDateTime":        "0001-01-01T00:00:00Z",
		"token":                   appleToken,
		"lastModifiedDateTime":    "2026-06-30T09:30:00Z",
		"state":                   "valid",
		"lastSyncStatus":          "none",
		"automaticallyUpdateApps": false,
		"countryOrRegion":         "gb",
	}}
}

// newTokenID returns a fresh token GUID.
func newTokenID() string {
	n := tokenCounter.Add(1)
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, time.Now().UnixNano()&0xffffffffffff)
}

var tokenCounter atomic.Int64

// world is one spec's set-up: a namespace with credentials Secrets, graphsim
// serving two tenants, and a manager running the reconciler on a fake clock.
type world struct {
	ns    string
	sim   *graphsim.Server
	clock *clocktesting.FakeClock
	logs  *syncBuffer
	opts  worldOptions
	// metrics holds the operator's own metrics of the latest manager, as
	// main.go registers them with controller-runtime's registry.
	metrics *prometheus.Registry

	stopManager func()
}

// worldOptions vary a world.
type worldOptions struct {
	// tokens are served in the main tenant, otherTokens in the other one,
	// whose app's credentials are in otherSecretName.
	tokens, otherTokens []graphsim.VppToken
	throttle            *graphsim.Throttle
	pacer               *pacing.Pacer
	jitter              float64
	expiryWarning       time.Duration
	// noManager leaves starting managers to the spec.
	noManager bool
	// config, when set, is how the world's manager reaches the API server.
	config *rest.Config
	// apps, given the world's namespace, are more app registrations in the
	// main tenant; federated credentials name the namespace in their subject.
	apps func(ns string) []graphsim.App
	// issuers are the token issuers graphsim trusts for federated credentials.
	issuers []graphsim.Issuer
}

// newWorld starts graphsim with the tokens in the main tenant, creates the
// namespace and Secrets, and starts a manager. Everything stops when the spec
// ends, and the spec fails if the operator called anything but the documented
// endpoints (revokeLicenses, say).
func newWorld(tokens ...graphsim.VppToken) *world {
	GinkgoHelper()
	return newWorldWith(worldOptions{tokens: tokens})
}

func newWorldWith(opts worldOptions) *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "vpp-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())

	var apps []graphsim.App
	if opts.apps != nil {
		apps = opts.apps(ns.Name)
	}
	sim, err := graphsim.Start(graphsim.Data{Tenants: []graphsim.Tenant{{
		ID: tenantID,
		Apps: append([]graphsim.App{
			{ClientID: clientID, ClientSecret: clientSecret},
			{ClientID: deniedClientID, ClientSecret: deniedSecret, Denied: true},
		}, apps...),
		VppTokens: opts.tokens,
	}, {
		ID:        otherTenantID,
		Apps:      []graphsim.App{{ClientID: clientID, ClientSecret: otherSecret}},
		VppTokens: opts.otherTokens,
	}}, Issuers: opts.issuers}, graphsim.Options{Throttle: opts.throttle})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sim.Close)

	w := &world{ns: ns.Name, sim: sim, clock: clocktesting.NewFakeClock(time.Now()), logs: &syncBuffer{}, opts: opts}
	w.putSecret(secretName, map[string]string{
		"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret,
	})
	w.putSecret(otherSecretName, map[string]string{
		"tenantId": otherTenantID, "clientId": clientID, "clientSecret": otherSecret,
	})
	DeferCleanup(func() {
		Expect(w.sim.Count(graphsim.OpUnknown, "")).To(BeZero(), "only documented endpoints are called")
	})
	if !opts.noManager {
		w.startManager()
		DeferCleanup(func() { w.stopManager() })
	}
	return w
}

// managerOptions vary a manager.
type managerOptions struct {
	// name goes into the Graph client's User-Agent, so graphsim's log tells
	// managers apart.
	name string
	// leaderElection makes the manager compete for a Lease in the namespace,
	// with lease times short enough for a spec.
	leaderElection bool
	// config, when set, replaces the suite's connection to the API server.
	config *rest.Config
	// namespaces the manager watches; empty means the world's namespace.
	namespaces []string
}

// startManager runs the world's manager, logging into w.logs.
func (w *world) startManager() {
	GinkgoHelper()
	w.stopManager = w.runManager(managerOptions{name: "manager", config: w.opts.config}, w.logs)
}

// runManager runs a manager with the reconciler, logging at the highest
// verbosity into logs, and returns what stops it. Stopping a leader does not
// release its Lease, as when its process is killed.
func (w *world) runManager(mo managerOptions, logs *syncBuffer) (stop func()) {
	GinkgoHelper()
	logger := zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true),
		zap.Level(zapcore.Level(-10))).WithName(mo.name)
	opts := ctrl.Options{
		Scheme:                 scheme,
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Specs run one after another against one API server; each manager
		// sees only its own spec's namespace.
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{w.ns: {}}},
	}
	if len(mo.namespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range mo.namespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if mo.leaderElection {
		opts.LeaderElection = true
		opts.LeaderElectionID = "vpp-operator-test"
		opts.LeaderElectionNamespace = w.ns
		opts.LeaseDuration = ptr.To(4 * time.Second)
		opts.RenewDeadline = ptr.To(3 * time.Second)
		opts.RetryPeriod = ptr.To(500 * time.Millisecond)
	}
	cfg := restConfig
	if mo.config != nil {
		cfg = mo.config
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	Expect(err).NotTo(HaveOccurred())

	registry := prometheus.NewRegistry()
	observe, err := opmetrics.Register(registry, mgr.GetClient(), logger.WithName("metrics"),
		ExpiryWindow(w.opts.expiryWarning))
	Expect(err).NotTo(HaveOccurred())
	w.metrics = registry

	r := &VppTokenReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("vpp-operator"),
		Clock:         w.clock,
		Pacer:         w.opts.pacer,
		Jitter:        func() float64 { return w.opts.jitter },
		ExpiryWarning: w.opts.expiryWarning,
		Graph: graph.NewClient(graph.Options{
			Hosts: graph.Hosts{GraphEndpoint: w.sim.URL, AuthorityHost: w.sim.URL},
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: w.sim.CertPool(), MinVersion: tls.VersionTLS12},
			},
			Timeout:   5 * time.Second,
			UserAgent: mo.name,
			Observe:   observe,
		}),
	}
	mgrCtx, cancel := context.WithCancel(context.Background())
	Expect(r.SetupWithManager(mgrCtx, mgr, controller.Options{
		MaxConcurrentReconciles: 4,
		SkipNameValidation:      ptr.To(true),
	})).To(Succeed())

	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			Eventually(done, 30*time.Second).Should(BeClosed())
		})
	}
}

// restartManager stops the manager and starts a new one, as a rollout would.
// It returns a function that reads what the new manager has logged.
func (w *world) restartManager() (newLogs func() string) {
	GinkgoHelper()
	w.stopManager()
	offset := len(w.logs.String())
	w.startManager()
	return func() string { return w.logs.String()[offset:] }
}

func (w *world) putSecret(name string, data map[string]string) {
	GinkgoHelper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}
	_, err := ctrl.CreateOrUpdate(ctx, k8sClient, s, func() error {
		s.StringData = data
		s.Data = nil
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

// createToken creates a VppToken for tokenID using the world's Secret.
func (w *world) createToken(name, tokenID string, mutate ...func(*intunev1alpha1.VppToken)) *intunev1alpha1.VppToken {
	GinkgoHelper()
	t := &intunev1alpha1.VppToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: intunev1alpha1.VppTokenSpec{
			TokenID:     tokenID,
			Credentials: intunev1alpha1.Credentials{SecretRef: &intunev1alpha1.SecretReference{Name: secretName}},
		},
	}
	for _, m := range mutate {
		m(t)
	}
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
	return t
}

func (w *world) get(name string) *intunev1alpha1.VppToken {
	GinkgoHelper()
	t := &intunev1alpha1.VppToken{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, t)).To(Succeed())
	return t
}

// update applies mutate to the stored token, retrying on conflicts.
func (w *world) update(name string, mutate func(*intunev1alpha1.VppToken)) {
	GinkgoHelper()
	Eventually(func() error {
		t := w.get(name)
		mutate(t)
		return k8sClient.Update(ctx, t)
	}).Should(Succeed())
}

// poke changes an annotation, which makes the controller reconcile the token
// now; specs use it after moving the fake clock, as requeues run on real time.
// It patches, because an update from Go would also rewrite the spec ("12h"
// becomes "12h0m0s") and so bump the generation.
func (w *world) poke(name string) {
	GinkgoHelper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test.vpp-operator.io/poke":"%d"}}}`, time.Now().UnixNano())
	t := &intunev1alpha1.VppToken{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}
	Expect(k8sClient.Patch(ctx, t, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

// waitForReason waits for the Ready condition to have the reason and returns
// the token.
func (w *world) waitForReason(name, reason string) *intunev1alpha1.VppToken {
	GinkgoHelper()
	var t *intunev1alpha1.VppToken
	Eventually(func() string {
		t = w.get(name)
		c := meta.FindStatusCondition(t.Status.Conditions, intunev1alpha1.ConditionReady)
		if c == nil {
			return ""
		}
		return c.Reason
	}, 20*time.Second, 50*time.Millisecond).Should(Equal(reason))
	return t
}

// posts counts syncLicenses calls for a token.
func (w *world) posts(tokenID string) func() int {
	return func() int { return w.sim.Count(graphsim.OpSyncLicenses, tokenID) }
}

// events returns the messages of the events about a token, as "type reason: message".
func (w *world) events(name string) []string {
	GinkgoHelper()
	var list corev1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(w.ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return out
}

// watchModifications counts MODIFIED events of one token from now on.
func (w *world) watchModifications(name string) (count func() int, stop func()) {
	GinkgoHelper()
	wi, err := k8sClient.Watch(ctx, &intunev1alpha1.VppTokenList{}, client.InNamespace(w.ns))
	Expect(err).NotTo(HaveOccurred())
	var n atomic.Int64
	go func() {
		for ev := range wi.ResultChan() {
			if t, ok := ev.Object.(*intunev1alpha1.VppToken); ok && ev.Type == watch.Modified && t.Name == name {
				n.Add(1)
			}
		}
	}()
	return func() int { return int(n.Load()) }, wi.Stop
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// applyRaw creates an object from JSON as kubectl would send it, for specs
// that need values the Go types cannot hold.
func applyRaw(raw []byte) error {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return err
	}
	return k8sClient.Create(ctx, u)
}

// denyStatus makes the API server refuse, with a ValidatingAdmissionPolicy,
// any VppToken status in the namespace whose organizationName is org, and
// waits until the policy is in force.
func denyStatus(ns, org string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-status-" + ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups:   []string{intunev1alpha1.GroupVersion.Group},
							APIVersions: []string{intunev1alpha1.GroupVersion.Version},
							Resources:   []string{"vpptokens/status"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(object.status.organizationName) || object.status.organizationName != %q", org),
				Message:    "organization refused",
			}},
		},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	DeferCleanup(k8sClient.Delete, ctx, policy)
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	DeferCleanup(k8sClient.Delete, ctx, binding)

	// A suspended token makes no Graph call; its status probes the policy.
	probe := &intunev1alpha1.VppToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "policy-probe"},
		Spec: intunev1alpha1.VppTokenSpec{TokenID: seedTokenID, Suspend: true,
			Credentials: intunev1alpha1.Credentials{SecretRef: &intunev1alpha1.SecretReference{Name: secretName}}},
	}
	Expect(k8sClient.Create(ctx, probe)).To(Succeed())
	patch := []byte(fmt.Sprintf(`{"status":{"organizationName":%q}}`, org))
	Eventually(func() bool {
		err := k8sClient.Status().Patch(ctx, probe, client.RawPatch(types.MergePatchType, patch))
		return apierrors.IsInvalid(err)
	}, 20*time.Second, 200*time.Millisecond).Should(BeTrue(), "the admission policy takes effect")
}

// apiProxy forwards TCP connections to the API server and can cut them, to
// stand for an API server that restarts while a manager runs. TLS passes
// through, so clients still verify the API server's certificate.
type apiProxy struct {
	listener net.Listener
	target   string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func startAPIProxy() *apiProxy {
	GinkgoHelper()
	u, err := url.Parse(restConfig.Host)
	Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p := &apiProxy{listener: ln, target: u.Host}
	DeferCleanup(p.close)
	go p.serve()
	return p
}

// config is restConfig aimed at the proxy.
func (p *apiProxy) config() *rest.Config {
	cfg := rest.CopyConfig(restConfig)
	cfg.Host = "https://" + p.listener.Addr().String()
	return cfg
}

func (p *apiProxy) serve() {
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// setDown cuts every connection and refuses new ones, or lets them through again.
func (p *apiProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func (p *apiProxy) close() {
	_ = p.listener.Close()
	p.setDown(true)
}
