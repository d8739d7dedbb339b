package controllers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	"github.com/vpp-operator/vpp-operator/internal/workloadidentity"
)

// Apps that sign in with a certificate or a federated credential.
const (
	certClientID  = "9d3b6a1e-5c2f-4e8a-b7d0-1a4c6e8f2b39"
	wiClientID    = "2c7e9a4b-6d1f-4b3e-8a5c-0f2d4b6e8a17"
	otherWIClient = "b41f8c2d-9e3a-4d6b-a1c7-5e8f0a2b4c63"
	wiAccount     = "intune-sync"
)

// testCertificate is a self-signed RSA certificate and its key, in PEM.
type testCertificate struct {
	cert, key  string
	thumbprint string
}

func newCertificate(notBefore, notAfter time.Time) testCertificate {
	GinkgoHelper()
	return newCertificateBits(notBefore, notAfter, 2048)
}

func newCertificateBits(notBefore, notAfter time.Time, bits int) testCertificate {
	GinkgoHelper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "vpp-operator-test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256(der)
	return testCertificate{
		cert:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key:        string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		thumbprint: hex.EncodeToString(sum[:]),
	}
}

func validCertificate() testCertificate {
	GinkgoHelper()
	return newCertificate(time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
}

// keyBody is the base64 body of a PEM key, the part a leak would show.
func keyBody(keyPEM string) string {
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	return strings.Join(lines[1:len(lines)-1], "")
}

// putTLSSecret stores a certificate as a kubernetes.io/tls Secret, with no
// other keys, as certificate issuers write them.
func (w *world) putTLSSecret(name string, c testCertificate) {
	GinkgoHelper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Type: corev1.SecretTypeTLS}
	_, err := controllerutil.CreateOrUpdate(ctx, k8sClient, s, func() error {
		s.Data = map[string][]byte{corev1.TLSCertKey: []byte(c.cert), corev1.TLSPrivateKeyKey: []byte(c.key)}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

// withCertificate makes a token sign in with the certificate in Secret name,
// giving the IDs in the spec.
func withCertificate(name string) func(*intunev1alpha1.VppToken) {
	return func(t *intunev1alpha1.VppToken) {
		t.Spec.Credentials.SecretRef = &intunev1alpha1.SecretReference{
			Name: name, TenantID: tenantID, ClientID: certClientID}
	}
}

// withWorkloadIdentity makes a token sign in as ServiceAccount sa.
func withWorkloadIdentity(sa string) func(*intunev1alpha1.VppToken) {
	return func(t *intunev1alpha1.VppToken) {
		t.Spec.Credentials = intunev1alpha1.Credentials{
			WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: sa}}
	}
}

// tokenLogins returns the credential of each sign-in graphsim saw.
func (w *world) tokenLogins() []string {
	var out []string
	for _, r := range w.sim.Requests() {
		if r.Op == graphsim.OpToken && r.Status == 200 {
			out = append(out, r.ClientID+" "+r.Credential)
		}
	}
	return out
}

// clusterIssuer is the envtest API server as an OIDC issuer of ServiceAccount
// tokens, which graphsim trusts as Entra ID trusts a cluster's issuer.
func clusterIssuer() graphsim.Issuer {
	GinkgoHelper()
	hc, err := rest.HTTPClientFor(restConfig)
	Expect(err).NotTo(HaveOccurred())
	issuer, err := graphsim.DiscoverIssuer(ctx, hc, restConfig.Host)
	Expect(err).NotTo(HaveOccurred())
	return issuer
}

// federated is an app that trusts ServiceAccount sa of namespace ns.
func federated(clientID string, issuer graphsim.Issuer, ns, sa string) graphsim.App {
	return graphsim.App{ClientID: clientID, FederatedCredentials: []graphsim.FederatedCredential{{
		Issuer: issuer.URL, Subject: "system:serviceaccount:" + ns + ":" + sa}}}
}

// putServiceAccount creates or updates a ServiceAccount with annotations.
func (w *world) putServiceAccount(name string, annotations map[string]string) {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}
	_, err := controllerutil.CreateOrUpdate(ctx, k8sClient, sa, func() error {
		sa.Annotations = annotations
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

func wiAnnotations(client string) map[string]string {
	return map[string]string{annotationClientID: client, annotationTenantID: tenantID}
}

var _ = Describe("Certificate credentials", func() {
	It("sign in from a kubernetes.io/tls Secret, with the IDs in the spec", func() {
		id := newTokenID()
		c := validCertificate()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)},
			apps: func(string) []graphsim.App {
				return []graphsim.App{{ClientID: certClientID, Certificates: []string{c.cert}}}
			}})
		w.putTLSSecret("app-cert", c)
		w.createToken("cert", id, withCertificate("app-cert"))

		w.waitForReason("cert", intunev1alpha1.ReasonSynced)
		Expect(w.tokenLogins()).To(ConsistOf(certClientID + " certificate:" + c.thumbprint))
	})

	It("take a rotated certificate at the next sync, without a restart", func() {
		id := newTokenID()
		old, renewed := validCertificate(), validCertificate()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)},
			apps: func(string) []graphsim.App {
				return []graphsim.App{{ClientID: certClientID, Certificates: []string{old.cert, renewed.cert}}}
			}})
		w.putTLSSecret("app-cert", old)
		w.createToken("rotated", id, withCertificate("app-cert"))
		w.waitForReason("rotated", intunev1alpha1.ReasonSynced)

		w.putTLSSecret("app-cert", renewed)
		w.requestSync("rotated", "after-rotation")
		Eventually(w.posts(id)).Should(Equal(2))
		Expect(w.tokenLogins()).To(Equal([]string{
			certClientID + " certificate:" + old.thumbprint,
			certClientID + " certificate:" + renewed.thumbprint,
		}))
	})

	It("that Entra ID does not know are refused with advice naming the thumbprint", func() {
		id := newTokenID()
		registered, stray := validCertificate(), validCertificate()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)},
			apps: func(string) []graphsim.App {
				return []graphsim.App{{ClientID: certClientID, Certificates: []string{registered.cert}}}
			}})
		w.putTLSSecret("app-cert", stray)
		w.createToken("stray", id, withCertificate("app-cert"))

		t := w.waitForReason("stray", intunev1alpha1.ReasonCredentialsInvalid)
		msg := condition(t, intunev1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("AADSTS700027"))
		Expect(msg).To(ContainSubstring("SHA-256 thumbprint " + stray.thumbprint))
		Expect(w.posts(id)()).To(BeZero())
	})

	DescribeTable("in an unusable Secret are reported before anything is sent",
		func(data func() map[string]string, spec func(*intunev1alpha1.SecretReference), reason, message string) {
			id := newTokenID()
			w := newWorld(validToken(id))
			w.putSecret("bad", data())
			w.createToken("bad", id, func(t *intunev1alpha1.VppToken) {
				t.Spec.Credentials.SecretRef.Name = "bad"
				spec(t.Spec.Credentials.SecretRef)
			})

			t := w.waitForReason("bad", reason)
			Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring(message))
			Expect(w.sim.Requests()).To(BeEmpty())
		},
		Entry("a key of another certificate",
			func() map[string]string {
				a, b := validCertificate(), validCertificate()
				return map[string]string{"tenantId": tenantID, "clientId": certClientID, "tls.crt": a.cert, "tls.key": b.key}
			}, noSpec, intunev1alpha1.ReasonCredentialsInvalid,
			`Secret "bad": tls.crt/tls.key: the private key does not belong to the first certificate.`),
		Entry("an expired certificate",
			func() map[string]string {
				c := newCertificate(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
				return map[string]string{"tenantId": tenantID, "clientId": certClientID, "tls.crt": c.cert, "tls.key": c.key}
			}, noSpec, intunev1alpha1.ReasonCredentialsInvalid, "the certificate expired on"),
		Entry("an EC key, which Entra ID does not take",
			func() map[string]string {
				c := validCertificate()
				return map[string]string{"tenantId": tenantID, "clientId": certClientID, "tls.crt": c.cert, "tls.key": ecKeyPEM()}
			}, noSpec, intunev1alpha1.ReasonCredentialsInvalid, "Entra ID accepts RSA certificates only"),
		Entry("a key too short for Entra ID",
			func() map[string]string {
				c := newCertificateBits(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1024)
				return map[string]string{"tenantId": tenantID, "clientId": certClientID, "tls.crt": c.cert, "tls.key": c.key}
			}, noSpec, intunev1alpha1.ReasonCredentialsInvalid, "the RSA key has 1024 bits: Entra ID requires at least 2048"),
		Entry("a certificate without its key",
			func() map[string]string {
				return map[string]string{"tenantId": tenantID, "clientId": certClientID, "tls.crt": validCertificate().cert}
			}, noSpec, intunev1alpha1.ReasonCredentialsMissing, "has tls.crt but no tls.key"),
		Entry("a client secret and a certificate",
			func() map[string]string {
				c := validCertificate()
				return map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret,
					"tls.crt": c.cert, "tls.key": c.key}
			}, noSpec, intunev1alpha1.ReasonCredentialsInvalid, "holds both clientSecret and a certificate"),
		Entry("IDs that the spec contradicts",
			func() map[string]string {
				return map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret}
			}, func(r *intunev1alpha1.SecretReference) { r.ClientID = certClientID },
			intunev1alpha1.ReasonCredentialsInvalid,
			`Secret "bad"'s key clientId differs from spec.credentials.secretRef.clientId: remove one of them.`),
		Entry("no IDs anywhere",
			func() map[string]string { return map[string]string{"clientSecret": clientSecret} }, noSpec,
			intunev1alpha1.ReasonCredentialsMissing, `No client or tenant ID for Secret "bad"`),
	)
})

func noSpec(*intunev1alpha1.SecretReference) {}

func ecKeyPEM() string {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	der, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

var _ = Describe("Workload identity", func() {
	var issuer graphsim.Issuer
	BeforeEach(func() { issuer = clusterIssuer() })

	wiWorld := func(tokens ...graphsim.VppToken) *world {
		return newWorldWith(worldOptions{tokens: tokens, issuers: []graphsim.Issuer{issuer},
			apps: func(ns string) []graphsim.App {
				return []graphsim.App{
					federated(wiClientID, issuer, ns, wiAccount),
					federated(otherWIClient, issuer, ns, wiAccount),
				}
			}})
	}

	It("signs in as the app named by the ServiceAccount's annotations, with a token for that account", func() {
		id := newTokenID()
		w := wiWorld(validToken(id))
		w.putServiceAccount(wiAccount, wiAnnotations(wiClientID))
		w.createToken("wi", id, withWorkloadIdentity(wiAccount))

		w.waitForReason("wi", intunev1alpha1.ReasonSynced)
		subject := "system:serviceaccount:" + w.ns + ":" + wiAccount
		Expect(w.tokenLogins()).To(ConsistOf(wiClientID + " federated:" + subject))
		assertions := w.sim.ClientAssertions()
		Expect(assertions).To(HaveLen(1))
		Expect(claimsOf(assertions[0])).To(And(
			HaveKeyWithValue("sub", subject),
			HaveKeyWithValue("aud", ConsistOf(workloadidentity.Audience)),
		))
	})

	It("reuses one ServiceAccount token for every app that trusts it", func() {
		first, second := newTokenID(), newTokenID()
		w := wiWorld(validToken(first), validToken(second))
		// The ServiceAccount names no app; each token names its own.
		w.putServiceAccount(wiAccount, map[string]string{annotationTenantID: tenantID})
		w.createToken("first", first, withWorkloadIdentity(wiAccount), func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.WorkloadIdentity.ClientID = wiClientID
		})
		w.createToken("second", second, withWorkloadIdentity(wiAccount), func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.WorkloadIdentity.ClientID = otherWIClient
		})
		w.waitForReason("first", intunev1alpha1.ReasonSynced)
		w.waitForReason("second", intunev1alpha1.ReasonSynced)

		// Two apps, two sign-ins, one ServiceAccount token presented to both.
		assertions := w.sim.ClientAssertions()
		Expect(assertions).To(HaveLen(2))
		Expect(assertions[0]).To(Equal(assertions[1]))
	})

	It("follows a changed client-id annotation without a restart", func() {
		id := newTokenID()
		w := wiWorld(validToken(id))
		w.putServiceAccount(wiAccount, wiAnnotations(wiClientID))
		w.createToken("moved", id, withWorkloadIdentity(wiAccount))
		w.waitForReason("moved", intunev1alpha1.ReasonSynced)

		w.putServiceAccount(wiAccount, wiAnnotations(otherWIClient))
		w.requestSync("moved", "after-move")
		Eventually(w.posts(id)).Should(Equal(2))
		Expect(w.tokenLogins()).To(HaveLen(2))
		Expect(w.tokenLogins()[1]).To(HavePrefix(otherWIClient + " federated:"))
	})

	It("cannot borrow an app that trusts another namespace's ServiceAccount", func() {
		id := newTokenID()
		w := wiWorld(validToken(id))
		// The thief's namespace has a ServiceAccount of the same name and
		// names the victim's app in the spec.
		thief := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "thief-"}}
		Expect(k8sClient.Create(ctx, thief)).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Namespace: thief.Name, Name: wiAccount}})).To(Succeed())
		w.startManagerIn(thief.Name)
		stolen := &intunev1alpha1.VppToken{
			ObjectMeta: metav1.ObjectMeta{Namespace: thief.Name, Name: "borrowed"},
			Spec: intunev1alpha1.VppTokenSpec{TokenID: id, Credentials: intunev1alpha1.Credentials{
				WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: wiAccount,
					TenantID: tenantID, ClientID: wiClientID}}},
		}
		Expect(k8sClient.Create(ctx, stolen)).To(Succeed())

		Eventually(func() string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(stolen), stolen)).To(Succeed())
			if c := condition(stolen, intunev1alpha1.ConditionReady); c != nil {
				return c.Reason + ": " + c.Message
			}
			return ""
		}, 20*time.Second).Should(And(
			HavePrefix(intunev1alpha1.ReasonCredentialsInvalid),
			ContainSubstring("AADSTS700213"),
			ContainSubstring("subject system:serviceaccount:"+thief.Name+":"+wiAccount),
		))
		Expect(w.posts(id)()).To(BeZero())
	})

	It("stops using a ServiceAccount once it is being deleted", func() {
		id := newTokenID()
		w := wiWorld(validToken(id))
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: wiAccount,
			Annotations: wiAnnotations(wiClientID), Finalizers: []string{"test.vpp-operator.io/hold"}}}
		Expect(k8sClient.Create(ctx, sa)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8sClient.Patch(ctx, sa, client.RawPatch(types.MergePatchType,
				[]byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
		})
		w.createToken("revoked", id, withWorkloadIdentity(wiAccount))
		w.waitForReason("revoked", intunev1alpha1.ReasonSynced)

		Expect(k8sClient.Delete(ctx, sa)).To(Succeed())
		w.requestSync("revoked", "after-delete")
		t := w.waitForReason("revoked", intunev1alpha1.ReasonCredentialsMissing)
		Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring("not found"))
		Expect(w.posts(id)()).To(Equal(1))
	})

	DescribeTable("reports a ServiceAccount it cannot use, and recovers once it is fixed",
		func(annotations map[string]string, create bool, reason, message string) {
			id := newTokenID()
			w := wiWorld(validToken(id))
			if create {
				w.putServiceAccount(wiAccount, annotations)
			}
			w.createToken("unusable", id, withWorkloadIdentity(wiAccount))
			t := w.waitForReason("unusable", reason)
			Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring(message))
			Expect(w.sim.Requests()).To(BeEmpty())

			w.putServiceAccount(wiAccount, wiAnnotations(wiClientID))
			w.waitForReason("unusable", intunev1alpha1.ReasonSynced)
		},
		Entry("a missing ServiceAccount", nil, false, intunev1alpha1.ReasonCredentialsMissing,
			`ServiceAccount "intune-sync" not found in namespace`),
		Entry("no client-id annotation", map[string]string{annotationTenantID: tenantID}, true,
			intunev1alpha1.ReasonCredentialsMissing,
			`No client ID for ServiceAccount "intune-sync": annotate it with azure.workload.identity/tenant-id`),
		Entry("a client-id that is not a GUID", map[string]string{annotationTenantID: tenantID,
			annotationClientID: "my-app"}, true, intunev1alpha1.ReasonCredentialsInvalid, "Application (client) ID"),
	)
})

// claimsOf decodes a JWT's claims without verifying them.
func claimsOf(jwt string) map[string]any {
	GinkgoHelper()
	parts := strings.Split(jwt, ".")
	Expect(parts).To(HaveLen(3))
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	Expect(err).NotTo(HaveOccurred())
	claims := map[string]any{}
	Expect(json.Unmarshal(raw, &claims)).To(Succeed())
	return claims
}

// requestSync sets the sync-requested-at annotation with a merge patch, which
// leaves the spec, and so the generation, alone.
func (w *world) requestSync(name, value string) {
	GinkgoHelper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, intunev1alpha1.SyncRequestedAtAnnotation, value)
	t := &intunev1alpha1.VppToken{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}
	Expect(k8sClient.Patch(ctx, t, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

// startManagerIn runs a second manager that watches namespace ns, for specs
// about tokens outside the world's namespace.
func (w *world) startManagerIn(ns string) {
	GinkgoHelper()
	DeferCleanup(w.runManager(managerOptions{name: "manager-" + ns, namespaces: []string{ns}}, w.logs))
}
