package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

// The manager runs as a user with exactly the permissions config/rbac grants
// its ServiceAccount, on a real API server, as the built binary.
var _ = Describe("The manager's permissions", Ordered, func() {
	const (
		tenantID   = "5b6c2f0e-8a41-4d3c-9e27-1f0a6b8c4d21"
		clientID   = "0c9e4a7b-2d18-4f63-a5b0-7e3d9c1f8a42"
		wiClientID = "2c7e9a4b-6d1f-4b3e-8a5c-0f2d4b6e8a17"
		secret     = "rbac-spec-secret~Qw3.zX8"
		operatorNS = "vpp-operator-system"
		account    = "controller-manager"
	)
	var (
		env        *envtest.Environment
		admin      client.Client
		binary     string
		kubeconfig string
		sim        *graphsim.Server
		caFile     string
		work       string
		tokenIDs   []string
	)

	BeforeAll(func() {
		work = GinkgoT().TempDir()
		By("building the manager")
		binary = filepath.Join(work, "manager")
		build := exec.Command("go", "build", "-o", binary, ".")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))

		env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")},
			ErrorIfCRDPathMissing: true}
		cfg, err := env.Start()
		Expect(err).NotTo(HaveOccurred(), "start the control plane; run `make envtest` and set KUBEBUILDER_ASSETS")
		DeferCleanup(env.Stop)
		scheme := runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
		Expect(intunev1alpha1.AddToScheme(scheme)).To(Succeed())
		admin, err = client.New(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		// The manager's identity is its ServiceAccount's user name, with no
		// permission but what the manifests bind to it.
		user, err := env.AddUser(envtest.User{Name: "system:serviceaccount:" + operatorNS + ":" + account,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNS}}, nil)
		Expect(err).NotTo(HaveOccurred())
		raw, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig = filepath.Join(work, "kubeconfig")
		Expect(os.WriteFile(kubeconfig, raw, 0o600)).To(Succeed())

		for _, ns := range []string{operatorNS, "team-a", "team-b"} {
			Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
		role := &rbacv1.ClusterRole{}
		readManifest("config/rbac/role.yaml", role)
		Expect(admin.Create(ctx, role)).To(Succeed())
		election := &rbacv1.Role{}
		readManifest("config/rbac/leader_election_role.yaml", election)
		election.Namespace = operatorNS
		Expect(admin.Create(ctx, election)).To(Succeed())
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "leader-election"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: election.Name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: account}},
		})).To(Succeed())

		By("serving two tenants' apps: one with a secret, one trusting a ServiceAccount of team-a")
		issuer := clusterIssuer(cfg)
		tokenIDs = []string{"11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002",
			"11111111-0000-4000-8000-000000000003"}
		var tokens []graphsim.VppToken
		for _, id := range tokenIDs {
			tokens = append(tokens, graphsim.VppToken{Properties: map[string]any{"id": id, "state": "valid",
				"organizationName": "Contoso", "lastSyncStatus": "none"}})
		}
		sim, err = graphsim.Start(graphsim.Data{Issuers: []graphsim.Issuer{issuer}, Tenants: []graphsim.Tenant{{
			ID: tenantID,
			Apps: []graphsim.App{{ClientID: clientID, ClientSecret: secret}, {ClientID: wiClientID,
				FederatedCredentials: []graphsim.FederatedCredential{{Issuer: issuer.URL,
					Subject: "system:serviceaccount:team-a:intune"}}}},
			VppTokens: tokens,
		}}}, graphsim.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sim.Close)
		caFile = filepath.Join(work, "graphsim-ca.pem")
		Expect(sim.WriteCAFile(caFile)).To(Succeed())

		for _, ns := range []string{"team-a", "team-b"} {
			Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
				StringData: map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": secret}})).
				To(Succeed())
		}
		Expect(admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a",
			Name: "intune", Annotations: map[string]string{"azure.workload.identity/client-id": wiClientID,
				"azure.workload.identity/tenant-id": tenantID}}})).To(Succeed())
	})

	// runManager runs the built manager with flags, returning its output so
	// far and what stops it.
	runManager := func(args ...string) (output func() string) {
		GinkgoHelper()
		var mu sync.Mutex
		var buf bytes.Buffer
		w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
		cmd := exec.Command(binary, append([]string{"--kubeconfig", kubeconfig,
			"--graph-endpoint", sim.URL, "--authority-host", sim.URL,
			"--health-probe-bind-address", "127.0.0.1:0", "--leader-elect",
			"--leader-election-namespace", operatorNS, "--zap-log-level", "debug"}, args...)...)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
		cmd.Stdout, cmd.Stderr = w, w
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		return func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
	}

	createToken := func(ns, name, tokenID string, creds intunev1alpha1.Credentials) {
		GinkgoHelper()
		Expect(admin.Create(ctx, &intunev1alpha1.VppToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: intunev1alpha1.VppTokenSpec{TokenID: tokenID, Credentials: creds}})).To(Succeed())
	}
	readyReason := func(ns, name string) func() string {
		return func() string {
			t := &intunev1alpha1.VppToken{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t); err != nil {
				return err.Error()
			}
			if c := meta.FindStatusCondition(t.Status.Conditions, intunev1alpha1.ConditionReady); c != nil {
				return c.Reason
			}
			return ""
		}
	}
	bySecret := intunev1alpha1.Credentials{SecretRef: &intunev1alpha1.SecretReference{Name: "app"}}
	byServiceAccount := intunev1alpha1.Credentials{
		WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: "intune"}}

	It("are exactly what the controller uses, with no wildcard", func() {
		role := &rbacv1.ClusterRole{}
		readManifest("config/rbac/role.yaml", role)
		var rules []string
		for _, r := range role.Rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					rules = append(rules, fmt.Sprintf("%s/%s: %s", g, res, strings.Join(r.Verbs, ",")))
				}
			}
		}
		Expect(rules).To(ConsistOf(
			"/secrets: get,list,watch",
			"/serviceaccounts: get,list,watch",
			"/events: create,patch",
			"events.k8s.io/events: create,patch",
			"intune.vpp-operator.io/vpptokens: get,list,watch",
			"intune.vpp-operator.io/vpptokens/status: patch",
		))
		tokens := &rbacv1.ClusterRole{}
		readManifest("config/rbac/workload-identity/role.yaml", tokens)
		Expect(tokens.Rules).To(Equal([]rbacv1.PolicyRule{{APIGroups: []string{""},
			Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}}}),
			"minting ServiceAccount tokens is a role of its own, bound per namespace")
		election := &rbacv1.Role{}
		readManifest("config/rbac/leader_election_role.yaml", election)
		Expect(election.Rules).To(ContainElement(rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"},
			Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}))
	})

	It("are enough, cluster-wide, to sync with a client secret and with workload identity", func() {
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "manager"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "manager-role"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: account}}}
		Expect(admin.Create(ctx, binding)).To(Succeed())
		DeferCleanup(admin.Delete, ctx, binding)
		tokens := &rbacv1.ClusterRole{}
		readManifest("config/rbac/workload-identity/role.yaml", tokens)
		Expect(admin.Create(ctx, tokens)).To(Succeed())
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "workload-identity"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tokens.Name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: account}},
		})).To(Succeed())
		Expect(admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b",
			Name: "intune"}})).To(Succeed())
		output := runManager()

		createToken("team-a", "by-secret", tokenIDs[0], bySecret)
		createToken("team-a", "by-account", tokenIDs[1], byServiceAccount)
		Eventually(readyReason("team-a", "by-secret"), 30*time.Second).Should(Equal(intunev1alpha1.ReasonSynced))
		Eventually(readyReason("team-a", "by-account"), 30*time.Second).Should(Equal(intunev1alpha1.ReasonSynced))

		By("minting no ServiceAccount token where the role is not bound")
		createToken("team-b", "by-account", tokenIDs[1], intunev1alpha1.Credentials{
			WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: "intune",
				TenantID: tenantID, ClientID: wiClientID}})
		Eventually(readyReason("team-b", "by-account"), 30*time.Second).Should(
			Equal(intunev1alpha1.ReasonPermissionDenied))
		Expect(sim.ClientAssertions()).To(HaveLen(1), "only team-a's token was exchanged")
		Eventually(func() []corev1.Event {
			var events corev1.EventList
			Expect(admin.List(ctx, &events, client.InNamespace("team-a"))).To(Succeed())
			return events.Items
		}).ShouldNot(BeEmpty(), "the manager may record events")
		Expect(output()).To(ContainSubstring("Successfully acquired lease"))
		// Only team-b's token request may be refused.
		Expect(output()).NotTo(MatchRegexp(deniedByRBAC))
	})

	It("are needed only in the watched namespaces with --namespaces", func() {
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "manager"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "manager-role"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: account}}}
		Expect(admin.Create(ctx, binding)).To(Succeed())
		output := runManager("--namespaces", "team-b")

		createToken("team-b", "by-secret", tokenIDs[2], bySecret)
		Eventually(readyReason("team-b", "by-secret"), 30*time.Second).Should(Equal(intunev1alpha1.ReasonSynced))
		// A token outside the list is not the manager's to touch.
		createToken("team-a", "outside", tokenIDs[2], bySecret)
		Consistently(readyReason("team-a", "outside"), 3*time.Second).Should(BeEmpty())
		Expect(output()).NotTo(MatchRegexp(deniedByRBAC))
	})

	It("serve metrics only to callers the API server authorises to read them", func() {
		// The synced token in team-b is the manager's to report, with --namespaces as before.
		auth := &rbacv1.ClusterRole{}
		readManifest("config/rbac/metrics_auth_role.yaml", auth)
		Expect(admin.Create(ctx, auth)).To(Succeed())
		authBinding := &rbacv1.ClusterRoleBinding{}
		readManifest("config/rbac/metrics_auth_role_binding.yaml", authBinding)
		authBinding.Subjects[0].Namespace = operatorNS
		Expect(admin.Create(ctx, authBinding)).To(Succeed())
		reader := &rbacv1.ClusterRole{}
		readManifest("config/rbac/metrics_reader_role.yaml", reader)
		Expect(admin.Create(ctx, reader)).To(Succeed())

		By("giving Prometheus's ServiceAccount the reader role, and another account nothing")
		for _, name := range []string{"prometheus", "nosy"} {
			Expect(admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
				Namespace: operatorNS, Name: name}})).To(Succeed())
		}
		Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: "prometheus"}},
		})).To(Succeed())
		tokenOf := func(account string) string {
			GinkgoHelper()
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: account}}
			req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				ExpirationSeconds: ptr.To[int64](600)}}
			Expect(admin.SubResource("token").Create(ctx, sa, req)).To(Succeed())
			return req.Status.Token
		}

		address := freeAddress()
		output := runManager("--namespaces", "team-b", "--metrics-bind-address", address)
		// The certificate is self-signed, made at start; a ServiceMonitor skips
		// its verification the same way.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed by design
			ForceAttemptHTTP2: true,
		}}
		scrape := func(bearer string) (int, string, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+address+"/metrics", nil)
			Expect(err).NotTo(HaveOccurred())
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err.Error(), ""
			}
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			Expect(err).NotTo(HaveOccurred())
			return resp.StatusCode, string(body), resp.Proto
		}

		// A sync by this process, for its request metrics.
		createToken("team-b", "fresh", tokenIDs[0], bySecret)
		Eventually(readyReason("team-b", "fresh"), 30*time.Second).Should(Equal(intunev1alpha1.ReasonSynced))
		prometheus := tokenOf("prometheus")
		Eventually(func() int { code, _, _ := scrape(prometheus); return code }, 30*time.Second).
			Should(Equal(http.StatusOK))
		code, body, proto := scrape(prometheus)
		Expect(code).To(Equal(http.StatusOK))
		Expect(proto).To(Equal("HTTP/1.1"), "HTTP/2 is off")
		Expect(body).To(ContainSubstring(
			`vpp_operator_token_ready{name="by-secret",namespace="team-b",organization="Contoso",status="True"} 1`))
		Expect(body).To(MatchRegexp(`vpp_operator_graph_requests_total\{code="200",operation="syncLicenses"\} [1-9]`))
		Expect(body).To(ContainSubstring("controller_runtime_reconcile_total"))
		Expect(body).NotTo(ContainSubstring(`namespace="team-a"`), "team-a is not watched")

		By("refusing a caller without the role, and one without a token")
		code, _, _ = scrape(tokenOf("nosy"))
		Expect(code).To(Equal(http.StatusForbidden))
		code, _, _ = scrape("")
		Expect(code).To(Equal(http.StatusUnauthorized))
		// The API server reports a malformed token as a review error, which
		// controller-runtime's filter answers with 500; refused all the same.
		code, body, _ = scrape("not-a-token")
		Expect(code).To(BeElementOf(http.StatusUnauthorized, http.StatusInternalServerError))
		Expect(body).NotTo(ContainSubstring("vpp_operator_"))
		Expect(output()).NotTo(ContainSubstring(prometheus), "bearer tokens are not logged")
		Expect(output()).NotTo(MatchRegexp(`cannot create resource \\?"(tokenreviews|subjectaccessreviews)`))
	})
})

// clusterIssuer is the API server as the OIDC issuer of ServiceAccount tokens.
func clusterIssuer(cfg *rest.Config) graphsim.Issuer {
	GinkgoHelper()
	hc, err := rest.HTTPClientFor(cfg)
	Expect(err).NotTo(HaveOccurred())
	issuer, err := graphsim.DiscoverIssuer(ctx, hc, cfg.Host)
	Expect(err).NotTo(HaveOccurred())
	return issuer
}

// freeAddress returns a loopback address with a port nothing listens on now.
func freeAddress() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// deniedByRBAC matches the API server refusing the manager anything the
// manager role should grant.
const deniedByRBAC = `cannot \w+ resource \\?"(vpptokens|secrets|serviceaccounts\\?"|events|leases)`

func readManifest(path string, into any) {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.UnmarshalStrict(raw, into)).To(Succeed(), path)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var ctx = context.Background()
