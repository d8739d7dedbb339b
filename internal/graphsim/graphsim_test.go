package graphsim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestGraphsim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "graphsim")
}

var _ = Describe("graphsim", func() {
	const tenant, client, secret, id = "t-1", "c-1", "s-1", "0f8fad5b-d9cb-469f-a165-70867728950e"
	var (
		srv *Server
		hc  *http.Client
	)

	BeforeEach(func() {
		var err error
		srv, err = Start(Data{Tenants: []Tenant{{ID: tenant,
			Apps:      []App{{ClientID: client, ClientSecret: secret}},
			VppTokens: []VppToken{{Properties: map[string]any{"id": id, "state": "valid"}}},
		}}}, Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}}
	})

	signIn := func() string {
		resp, err := hc.PostForm(srv.URL+"/"+tenant+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret},
			"scope": {"https://graph.microsoft.com/.default openid profile offline_access"},
		})
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		var body struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&body)).To(Succeed())
		Expect(body.ExpiresIn).To(Equal(3599))
		return body.AccessToken
	}

	syncLicenses := func(bearer string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+vppTokensPath+"/"+id+"/syncLicenses", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := hc.Do(req)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(resp.Body.Close)
		return resp
	}

	It("serves an OpenID configuration naming its own token endpoint", func() {
		resp, err := hc.Get(srv.URL + "/" + tenant + "/v2.0/.well-known/openid-configuration")
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var doc map[string]any
		Expect(json.NewDecoder(resp.Body).Decode(&doc)).To(Succeed())
		Expect(doc["token_endpoint"]).To(Equal(srv.URL + "/" + tenant + "/oauth2/v2.0/token"))
		Expect(doc["issuer"]).To(Equal(srv.URL + "/" + tenant + "/v2.0"))
	})

	It("answers Graph only with an access token it issued", func() {
		Expect(syncLicenses("made-up").StatusCode).To(Equal(http.StatusUnauthorized))
		resp := syncLicenses(signIn())
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(resp.Header.Get("request-id")).NotTo(BeEmpty())
	})

	It("applies a fault as many times as asked, then answers normally", func() {
		bearer := signIn()
		srv.Inject(Fault{Op: OpSyncLicenses, Status: http.StatusTooManyRequests, RetryAfter: "3", Times: 2})
		first := syncLicenses(bearer)
		Expect(first.StatusCode).To(Equal(http.StatusTooManyRequests))
		Expect(first.Header.Get("Retry-After")).To(Equal("3"))
		Expect(syncLicenses(bearer).StatusCode).To(Equal(http.StatusTooManyRequests))
		Expect(syncLicenses(bearer).StatusCode).To(Equal(http.StatusOK))

		Expect(srv.Count(OpSyncLicenses, id)).To(Equal(3))
		Expect(srv.Count(OpToken, "")).To(Equal(1))
		var statuses []int
		for _, r := range srv.Requests() {
			if r.Op == OpSyncLicenses {
				statuses = append(statuses, r.Status)
				Expect(r.TenantID).To(Equal(tenant))
				Expect(r.ClientID).To(Equal(client))
			}
		}
		Expect(statuses).To(Equal([]int{429, 429, 200}))
	})

	It("writes Intune's nested error message for a fault without a body", func() {
		srv.Inject(Fault{Op: OpSyncLicenses, Status: http.StatusServiceUnavailable})
		resp := syncLicenses(signIn())
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&env)).To(Succeed())
		Expect(env.Error.Code).To(Equal("ServiceUnavailable"))
		Expect(strings.HasPrefix(env.Error.Message, `{"CustomApiErrorPhrase"`)).To(BeTrue())
		Expect(env.Error.Message).To(ContainSubstring("Operation ID"))
	})

	It("stamps a sync as completed", func() {
		syncLicenses(signIn())
		props, err := srv.TokenProperties(id)
		Expect(err).NotTo(HaveOccurred())
		Expect(props["lastSyncStatus"]).To(Equal("completed"))
		Expect(props["lastSyncDateTime"]).To(MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`))
	})
})

// The apps, issuers and subjects of the client assertion specs.
const (
	certClient    = "c-cert"   // signs in with a certificate and has no secret
	fedClient     = "c-fed"    // signs in with external issuers' tokens
	secretClient  = "c-secret" // signs in with a secret
	clientSecret  = "s-1"
	clusterIssuer = "https://kubernetes.default.svc.cluster.local"
	clusterKeyID  = "k1"
	saSubject     = "system:serviceaccount:vpp-operator-system:vpp-operator"
	ecIssuer      = "https://token.example.test/ec"
	ecKeyID       = "ec1"
	ecSubject     = "repo:contoso/vpp:environment:prod"
	ecAudience    = "api://contoso-vpp"
	graphScope    = "https://graph.microsoft.com/.default"
	assertionTok  = "0f8fad5b-d9cb-469f-a165-70867728950f"
)

// testKeys are made once for the suite, as RSA key generation is slow enough
// to matter when every spec needs several keys.
type testKeys struct {
	appCert      *x509.Certificate // registered on certClient
	appKey       *rsa.PrivateKey
	strangerCert *x509.Certificate // registered nowhere
	strangerKey  *rsa.PrivateKey
	clusterKey   *rsa.PrivateKey // the API server's service account signing key
	ecKey        *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	appKey, strangerKey, clusterKey := newRSAKey(), newRSAKey(), newRSAKey()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{
		appCert: selfSigned(appKey, "vpp-operator"), appKey: appKey,
		strangerCert: selfSigned(strangerKey, "someone else"), strangerKey: strangerKey,
		clusterKey: clusterKey, ecKey: ecKey,
	}
})

func newRSAKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
}

// selfSigned is a certificate as an admin makes one to upload to an app.
func selfSigned(key *rsa.PrivateKey, name string) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert
}

func certPEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

func sha256Hex(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// jwks renders public keys by kid as an issuer serves them.
func jwks(byKid map[string]crypto.PublicKey) json.RawMessage {
	b64 := base64.RawURLEncoding.EncodeToString
	var list []map[string]string
	for kid, key := range byKid {
		switch key := key.(type) {
		case *rsa.PublicKey:
			list = append(list, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256",
				"kid": kid, "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())})
		case *ecdsa.PublicKey:
			point, err := key.Bytes()
			if err != nil {
				panic(err)
			}
			list = append(list, map[string]string{"kty": "EC", "use": "sig", "alg": "ES256",
				"kid": kid, "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])})
		}
	}
	raw, err := json.Marshal(map[string]any{"keys": list})
	if err != nil {
		panic(err)
	}
	return raw
}

// assertionData is a tenant with an app for each kind of credential, and the
// keys of the issuers its federated credentials trust.
func assertionData() Data {
	k := keys()
	return Data{
		Tenants: []Tenant{{ID: "t-1",
			Apps: []App{
				{ClientID: certClient, Certificates: []string{certPEM(k.appCert)}},
				{ClientID: fedClient, FederatedCredentials: []FederatedCredential{
					{Issuer: clusterIssuer, Subject: saSubject},
					{Issuer: ecIssuer, Subject: ecSubject, Audiences: []string{ecAudience}},
				}},
				{ClientID: secretClient, ClientSecret: clientSecret},
			},
			VppTokens: []VppToken{{Properties: map[string]any{"id": assertionTok, "state": "valid"}}},
		}},
		Issuers: []Issuer{
			{URL: clusterIssuer, JWKS: jwks(map[string]crypto.PublicKey{
				clusterKeyID: &k.clusterKey.PublicKey})},
			{URL: ecIssuer, JWKS: jwks(map[string]crypto.PublicKey{ecKeyID: &k.ecKey.PublicKey})},
		},
	}
}

func httpsClient(srv *Server) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}}
}

// clientOptions point azidentity at graphsim, as the operator does.
func clientOptions(srv *Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"},
		Transport: httpsClient(srv),
	}
}

func getToken(cred azcore.TokenCredential) (azcore.AccessToken, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
}

// identityReply is the identity platform's error reply.
type identityReply struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

// replyOf digs the identity platform's reply out of an azidentity failure.
func replyOf(err error) identityReply {
	var failed *azidentity.AuthenticationFailedError
	ExpectWithOffset(1, errors.As(err, &failed)).To(BeTrue(), "not an authentication failure: %v", err)
	body, err := runtime.Payload(failed.RawResponse)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var reply identityReply
	ExpectWithOffset(1, json.Unmarshal(body, &reply)).To(Succeed())
	reply.Status = failed.RawResponse.StatusCode
	return reply
}

// postToken sends a token request as a hand-written client would.
func postToken(srv *Server, form url.Values) identityReply {
	form.Set("grant_type", "client_credentials")
	form.Set("scope", graphScope)
	resp, err := httpsClient(srv).PostForm(srv.URL+"/t-1/oauth2/v2.0/token", form)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var reply identityReply
	ExpectWithOffset(1, json.NewDecoder(resp.Body).Decode(&reply)).To(Succeed())
	reply.Status = resp.StatusCode
	return reply
}

func assertionForm(client, assertion string) url.Values {
	return url.Values{"client_id": {client}, "client_assertion": {assertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
}

// lastTokenRequest is the log entry of the latest token request.
func lastTokenRequest(srv *Server) Request {
	var last Request
	for _, r := range srv.Requests() {
		if r.Op == OpToken {
			last = r
		}
	}
	return last
}

// syncStatus is the status syncLicenses answers a bearer with.
func syncStatus(srv *Server, bearer string) int {
	req, err := http.NewRequest(http.MethodPost,
		srv.URL+vppTokensPath+"/"+assertionTok+"/syncLicenses", nil)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := httpsClient(srv).Do(req)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	return resp.StatusCode
}

// joseHeader decodes a JWT's header without checking anything.
func joseHeader(token string) map[string]any {
	part, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(part)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var header map[string]any
	ExpectWithOffset(1, json.Unmarshal(raw, &header)).To(Succeed())
	return header
}

// signed is a JWT with the given header members and claims.
func signed(method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	maps.Copy(tok.Header, header)
	s, err := tok.SignedString(key)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return s
}

var _ = Describe("latency", func() {
	DescribeTable("spreads each delay evenly around the latency, never below zero",
		func(latency, jitter time.Duration, u float64, want time.Duration) {
			Expect(replyDelay(latency, jitter, u)).To(Equal(want))
		},
		Entry("no jitter", 150*time.Millisecond, time.Duration(0), 0.9, 150*time.Millisecond),
		Entry("the low end", 150*time.Millisecond, 50*time.Millisecond, 0.0, 100*time.Millisecond),
		Entry("the middle", 150*time.Millisecond, 50*time.Millisecond, 0.5, 150*time.Millisecond),
		Entry("near the high end", 150*time.Millisecond, 50*time.Millisecond, 0.99, 199*time.Millisecond),
		Entry("jitter wider than the latency", 10*time.Millisecond, 50*time.Millisecond, 0.0, time.Duration(0)),
	)

	It("answers nothing, and logs nothing, to a client that gives up first", func() {
		srv, err := Start(Data{}, Options{Latency: time.Minute})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
		hc := &http.Client{Timeout: 100 * time.Millisecond,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}}
		_, err = hc.Get(srv.URL + "/t-1/v2.0/.well-known/openid-configuration")
		Expect(err).To(HaveOccurred())
		Consistently(srv.Requests, 300*time.Millisecond).Should(BeEmpty())
	})
})

var _ = Describe("certificate credentials", func() {
	var srv *Server

	start := func(opts Options) {
		var err error
		srv, err = Start(assertionData(), opts)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
	}

	certificateCredential := func(cert *x509.Certificate, key *rsa.PrivateKey) azcore.TokenCredential {
		cred, err := azidentity.NewClientCertificateCredential("t-1", certClient,
			[]*x509.Certificate{cert}, key, &azidentity.ClientCertificateCredentialOptions{
				ClientOptions: clientOptions(srv), DisableInstanceDiscovery: true})
		Expect(err).NotTo(HaveOccurred())
		return cred
	}

	expectRejected := func(err error, aadsts int) identityReply {
		reply := replyOf(err)
		ExpectWithOffset(1, reply.Status).To(Equal(http.StatusUnauthorized))
		ExpectWithOffset(1, reply.Code).To(Equal("invalid_client"))
		ExpectWithOffset(1, reply.Codes).To(Equal([]int{aadsts}))
		ExpectWithOffset(1, lastTokenRequest(srv).Credential).To(BeEmpty())
		ExpectWithOffset(1, srv.AccessTokens()).To(BeEmpty())
		return reply
	}

	It("signs azidentity in with a registered certificate and logs its thumbprint", func() {
		start(Options{})
		k := keys()
		tok, err := getToken(certificateCredential(k.appCert, k.appKey))
		Expect(err).NotTo(HaveOccurred())

		Expect(srv.AccessTokens()).To(Equal([]string{tok.Token}))
		Expect(syncStatus(srv, tok.Token)).To(Equal(http.StatusOK))
		signIn := lastTokenRequest(srv)
		Expect(signIn.Status).To(Equal(http.StatusOK))
		Expect(signIn.Credential).To(Equal("certificate:" + sha256Hex(k.appCert)))

		// MSAL's own encoding, which RFC 7515 does not allow, is what arrived.
		sum := sha256.Sum256(k.appCert.Raw)
		header := joseHeader(srv.ClientAssertions()[0])
		Expect(header).To(HaveKeyWithValue("alg", "PS256"))
		Expect(header).To(HaveKeyWithValue("x5t#S256", base64.StdEncoding.EncodeToString(sum[:])))
	})

	It("rejects a certificate that is not registered on the app", func() {
		start(Options{})
		k := keys()
		_, err := getToken(certificateCredential(k.strangerCert, k.strangerKey))
		reply := expectRejected(err, 700027)
		Expect(reply.Description).To(ContainSubstring("is not registered on application"))
	})

	It("rejects an assertion that the certificate's key did not sign", func() {
		start(Options{})
		k := keys()
		// The registered certificate's bytes, so the thumbprint matches, with
		// another key: a key file that does not belong to the certificate.
		mismatched := *k.appCert
		mismatched.PublicKey = &k.strangerKey.PublicKey
		_, err := getToken(certificateCredential(&mismatched, k.strangerKey))
		reply := expectRejected(err, 700027)
		Expect(reply.Description).To(ContainSubstring("failed signature validation"))
		Expect(reply.Description).NotTo(ContainSubstring("not registered"))
	})

	It("rejects an assertion that expired by the server's clock", func() {
		// MSAL's assertions last ten minutes; 20 minutes on is past the skew.
		start(Options{Now: func() time.Time { return time.Now().Add(20 * time.Minute) }})
		k := keys()
		_, err := getToken(certificateCredential(k.appCert, k.appKey))
		reply := expectRejected(err, 700024)
		Expect(reply.Description).To(ContainSubstring("not within its valid time range"))
	})

	// certAssertion is a hand-made assertion for certClient, changed per entry.
	type certAssertion struct {
		method jwt.SigningMethod
		key    any
		header map[string]any
		claims jwt.MapClaims
		raw    string // sent instead when set
	}

	DescribeTable("checks a hand-made certificate assertion",
		func(change func(a *certAssertion), status, aadsts int) {
			start(Options{})
			k := keys()
			sum := sha256.Sum256(k.appCert.Raw)
			now := time.Now()
			a := certAssertion{
				method: jwt.SigningMethodPS256, key: k.appKey,
				header: map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(sum[:])},
				claims: jwt.MapClaims{"aud": srv.URL + "/t-1/oauth2/v2.0/token",
					"iss": certClient, "sub": certClient, "jti": "j-1",
					"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()},
			}
			change(&a)
			assertion := a.raw
			if assertion == "" {
				assertion = signed(a.method, a.key, a.header, a.claims)
			}

			reply := postToken(srv, assertionForm(certClient, assertion))
			Expect(reply.Status).To(Equal(status))
			if status == http.StatusOK {
				Expect(lastTokenRequest(srv).Credential).To(
					Equal("certificate:" + sha256Hex(k.appCert)))
				return
			}
			Expect(reply.Codes).To(Equal([]int{aadsts}))
			Expect(reply.Description).To(HavePrefix(fmt.Sprintf("AADSTS%d: ", aadsts)))
			Expect(lastTokenRequest(srv).Credential).To(BeEmpty())
		},
		Entry("accepts RS256 with a SHA-1 x5t, as ADFS-style clients send", func(a *certAssertion) {
			sum := sha1.Sum(keys().appCert.Raw)
			a.method = jwt.SigningMethodRS256
			a.header = map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(sum[:])}
		}, http.StatusOK, 0),
		Entry("accepts x5t#S256 in unpadded base64url, as RFC 7515 writes it", func(a *certAssertion) {
			sum := sha256.Sum256(keys().appCert.Raw)
			a.header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
		}, http.StatusOK, 0),
		Entry("accepts an audience spelling the tenant in capitals", func(a *certAssertion) {
			a.claims["aud"] = strings.Replace(a.claims["aud"].(string), "/t-1/", "/T-1/", 1)
		}, http.StatusOK, 0),
		Entry("accepts an assertion that expired within the clock skew", func(a *certAssertion) {
			a.claims["exp"] = time.Now().Add(-2 * time.Minute).Unix()
		}, http.StatusOK, 0),
		Entry("rejects an audience of another tenant", func(a *certAssertion) {
			a.claims["aud"] = strings.Replace(a.claims["aud"].(string), "/t-1/", "/t-2/", 1)
		}, http.StatusUnauthorized, 700023),
		Entry("rejects the v1 token endpoint as audience", func(a *certAssertion) {
			a.claims["aud"] = strings.Replace(a.claims["aud"].(string), "/v2.0/", "/", 1)
		}, http.StatusUnauthorized, 700023),
		Entry("rejects an issuer other than the client", func(a *certAssertion) {
			a.claims["iss"] = "c-other"
		}, http.StatusUnauthorized, 700021),
		Entry("rejects a subject other than the client", func(a *certAssertion) {
			a.claims["sub"] = "c-other"
		}, http.StatusUnauthorized, 700021),
		Entry("rejects an assertion expired beyond the clock skew", func(a *certAssertion) {
			a.claims["exp"] = time.Now().Add(-6 * time.Minute).Unix()
		}, http.StatusUnauthorized, 700024),
		Entry("rejects an assertion not valid for another ten minutes", func(a *certAssertion) {
			a.claims["nbf"] = time.Now().Add(10 * time.Minute).Unix()
			a.claims["exp"] = time.Now().Add(20 * time.Minute).Unix()
		}, http.StatusUnauthorized, 700024),
		Entry("rejects an HMAC keyed with the public certificate", func(a *certAssertion) {
			a.method, a.key = jwt.SigningMethodHS256, keys().appCert.Raw
		}, http.StatusUnauthorized, 700027),
		Entry("rejects an assertion with no exp as malformed", func(a *certAssertion) {
			delete(a.claims, "exp")
		}, http.StatusBadRequest, 50027),
		Entry("rejects a thumbprint that is not base64 as malformed", func(a *certAssertion) {
			a.header["x5t#S256"] = "not*base64"
		}, http.StatusBadRequest, 50027),
		Entry("rejects something that is not a JWT as malformed", func(a *certAssertion) {
			a.raw = "not-a-jwt"
		}, http.StatusBadRequest, 50027),
	)
})

var _ = Describe("federated credentials", func() {
	var srv *Server

	BeforeEach(func() {
		var err error
		srv, err = Start(assertionData(), Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
	})

	// serviceAccountToken is a token as the API server projects it into a pod
	// for workload identity.
	type serviceAccountToken struct {
		method jwt.SigningMethod
		key    any
		kid    string
		claims jwt.MapClaims
	}

	newToken := func() *serviceAccountToken {
		now := time.Now()
		return &serviceAccountToken{
			method: jwt.SigningMethodRS256, key: keys().clusterKey, kid: clusterKeyID,
			claims: jwt.MapClaims{"iss": clusterIssuer, "sub": saSubject,
				"aud": []string{"api://AzureADTokenExchange"},
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
				"kubernetes.io": map[string]any{"namespace": "vpp-operator-system",
					"serviceaccount": map[string]any{"name": "vpp-operator"}}},
		}
	}

	assertionCredential := func(tok *serviceAccountToken) azcore.TokenCredential {
		assertion := signed(tok.method, tok.key, map[string]any{"kid": tok.kid}, tok.claims)
		cred, err := azidentity.NewClientAssertionCredential("t-1", fedClient,
			func(context.Context) (string, error) { return assertion, nil },
			&azidentity.ClientAssertionCredentialOptions{
				ClientOptions: clientOptions(srv), DisableInstanceDiscovery: true})
		Expect(err).NotTo(HaveOccurred())
		return cred
	}

	It("signs azidentity in with a ServiceAccount token and logs its subject", func() {
		tok, err := getToken(assertionCredential(newToken()))
		Expect(err).NotTo(HaveOccurred())

		Expect(srv.AccessTokens()).To(Equal([]string{tok.Token}))
		Expect(syncStatus(srv, tok.Token)).To(Equal(http.StatusOK))
		signIn := lastTokenRequest(srv)
		Expect(signIn.Status).To(Equal(http.StatusOK))
		Expect(signIn.ClientID).To(Equal(fedClient))
		Expect(signIn.Credential).To(Equal("federated:" + saSubject))
	})

	It("accepts an ES256 token with the audience its credential names", func() {
		tok := newToken()
		tok.method, tok.key, tok.kid = jwt.SigningMethodES256, keys().ecKey, ecKeyID
		tok.claims["iss"], tok.claims["sub"], tok.claims["aud"] = ecIssuer, ecSubject, ecAudience
		_, err := getToken(assertionCredential(tok))
		Expect(err).NotTo(HaveOccurred())
		Expect(lastTokenRequest(srv).Credential).To(Equal("federated:" + ecSubject))
	})

	DescribeTable("rejects a token that no federated credential accepts",
		func(change func(tok *serviceAccountToken), aadsts int, mentions string) {
			tok := newToken()
			change(tok)
			_, err := getToken(assertionCredential(tok))

			reply := replyOf(err)
			Expect(reply.Status).To(Equal(http.StatusUnauthorized))
			Expect(reply.Code).To(Equal("invalid_client"))
			Expect(reply.Codes).To(Equal([]int{aadsts}))
			Expect(reply.Description).To(ContainSubstring(mentions))
			Expect(lastTokenRequest(srv).Credential).To(BeEmpty())
			Expect(srv.AccessTokens()).To(BeEmpty())
		},
		Entry("from an issuer no credential trusts", func(tok *serviceAccountToken) {
			tok.claims["iss"] = "https://oidc.example.test/other"
		}, 700211, "issuer 'https://oidc.example.test/other'"),
		Entry("from the trusted issuer spelled with a trailing slash", func(tok *serviceAccountToken) {
			tok.claims["iss"] = clusterIssuer + "/"
		}, 700211, "issuer '"+clusterIssuer+"/'"),
		Entry("signed under a kid the issuer does not publish", func(tok *serviceAccountToken) {
			tok.kid = "k-rotated"
		}, 7000272, "'k-rotated'"),
		Entry("signed by another key under the issuer's kid", func(tok *serviceAccountToken) {
			tok.key = keys().strangerKey
		}, 700027, "failed signature validation"),
		Entry("signed with HMAC", func(tok *serviceAccountToken) {
			tok.method, tok.key = jwt.SigningMethodHS256, []byte("shared")
		}, 700027, "failed signature validation"),
		Entry("for another ServiceAccount", func(tok *serviceAccountToken) {
			tok.claims["sub"] = "system:serviceaccount:default:default"
		}, 700213, "subject 'system:serviceaccount:default:default'"),
		Entry("for another audience", func(tok *serviceAccountToken) {
			tok.claims["aud"] = []string{"https://kubernetes.default.svc"}
		}, 700212, "audience 'https://kubernetes.default.svc'"),
		Entry("for the default audience where the credential names its own",
			func(tok *serviceAccountToken) {
				tok.method, tok.key, tok.kid = jwt.SigningMethodES256, keys().ecKey, ecKeyID
				tok.claims["iss"], tok.claims["sub"] = ecIssuer, ecSubject
			}, 700212, "audience 'api://AzureADTokenExchange'"),
		Entry("that has expired", func(tok *serviceAccountToken) {
			tok.claims["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			tok.claims["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
			tok.claims["exp"] = time.Now().Add(-time.Hour).Unix()
		}, 700024, "not within its valid time range"),
	)

	It("trusts a rotated key once the issuer's keys are replaced", func() {
		rotated := newToken()
		rotated.key, rotated.kid = keys().strangerKey, "k2"
		_, err := getToken(assertionCredential(rotated))
		Expect(replyOf(err).Codes).To(Equal([]int{7000272}))

		Expect(srv.SetIssuerKeys(clusterIssuer, jwks(map[string]crypto.PublicKey{
			"k2": &keys().strangerKey.PublicKey}))).To(Succeed())
		_, err = getToken(assertionCredential(rotated))
		Expect(err).NotTo(HaveOccurred())
		_, err = getToken(assertionCredential(newToken()))
		Expect(replyOf(err).Codes).To(Equal([]int{7000272}), "the old key was replaced, not kept")
	})

	It("refuses issuer keys it could not verify with", func() {
		err := srv.SetIssuerKeys(clusterIssuer, []byte(`{"keys":[{"kty":"RSA","e":"AQAB"}]}`))
		Expect(err).To(MatchError(ContainSubstring("has no kid")))
		_, err = getToken(assertionCredential(newToken()))
		Expect(err).NotTo(HaveOccurred(), "a refused JWKS leaves the keys as they were")
	})
})

var _ = Describe("client authentication", func() {
	var srv *Server

	BeforeEach(func() {
		var err error
		srv, err = Start(assertionData(), Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Close)
	})

	clusterToken := func() string {
		now := time.Now()
		return signed(jwt.SigningMethodRS256, keys().clusterKey, map[string]any{"kid": clusterKeyID},
			jwt.MapClaims{"iss": clusterIssuer, "sub": saSubject, "aud": "api://AzureADTokenExchange",
				"nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}

	It("logs a secret sign-in as such", func() {
		reply := postToken(srv, url.Values{"client_id": {secretClient},
			"client_secret": {clientSecret}})
		Expect(reply.Status).To(Equal(http.StatusOK))
		Expect(lastTokenRequest(srv).Credential).To(Equal("secret"))
		Expect(srv.AccessTokens()).To(HaveLen(1))
	})

	It("refuses a request with both a secret and an assertion", func() {
		form := assertionForm(fedClient, clusterToken())
		form.Set("client_secret", clientSecret)
		reply := postToken(srv, form)
		Expect(reply.Status).To(Equal(http.StatusBadRequest))
		Expect(reply.Code).To(Equal("invalid_request"))
		Expect(reply.Codes).To(Equal([]int{90023}))
		Expect(lastTokenRequest(srv).Credential).To(BeEmpty())
	})

	It("answers a secret sent to an app without one as a wrong secret", func() {
		reply := postToken(srv, url.Values{"client_id": {certClient}, "client_secret": {"guess"}})
		Expect(reply.Status).To(Equal(http.StatusUnauthorized))
		Expect(reply.Codes).To(Equal([]int{7000215}))
	})

	It("asks for client_assertion_type when an assertion comes without it", func() {
		form := assertionForm(fedClient, clusterToken())
		form.Del("client_assertion_type")
		reply := postToken(srv, form)
		Expect(reply.Status).To(Equal(http.StatusBadRequest))
		Expect(reply.Codes).To(Equal([]int{900144}))
	})

	It("still checks the scope after a good assertion", func() {
		form := assertionForm(fedClient, clusterToken())
		form.Set("grant_type", "client_credentials")
		form.Set("scope", "https://graph.microsoft.us/.default")
		resp, err := httpsClient(srv).PostForm(srv.URL+"/t-1/oauth2/v2.0/token", form)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		Expect(lastTokenRequest(srv).Credential).To(BeEmpty(), "no token was issued")
		Expect(srv.AccessTokens()).To(BeEmpty())
	})

	It("keeps every assertion it received, those a fault answered included", func() {
		first, second := clusterToken(), clusterToken()+"x"
		srv.Inject(Fault{Op: OpToken, Status: http.StatusServiceUnavailable, Times: 1})
		Expect(postToken(srv, assertionForm(fedClient, first)).Status).To(
			Equal(http.StatusServiceUnavailable))
		Expect(postToken(srv, assertionForm(fedClient, second)).Codes).To(Equal([]int{700027}))

		got := srv.ClientAssertions()
		Expect(got).To(Equal([]string{first, second}))
		got[0] = "changed"
		Expect(srv.ClientAssertions()[0]).To(Equal(first), "callers get a copy")
	})

	It("gives out copies of the access tokens it issued", func() {
		reply := postToken(srv, assertionForm(fedClient, clusterToken()))
		Expect(reply.Status).To(Equal(http.StatusOK))
		got := srv.AccessTokens()
		Expect(got).To(HaveLen(1))
		Expect(got[0]).To(HavePrefix("simtoken-"))
		got[0] = "changed"
		Expect(srv.AccessTokens()[0]).To(HavePrefix("simtoken-"))
	})

	It("refuses to start on a certificate it cannot read", func() {
		data := assertionData()
		data.Tenants[0].Apps[0].Certificates = []string{"-----BEGIN CERTIFICATE-----"}
		_, err := Start(data, Options{})
		Expect(err).To(MatchError(ContainSubstring("app c-cert: certificate 0")))
	})

	It("refuses to start on issuer keys it cannot verify with", func() {
		data := assertionData()
		data.Issuers[0].JWKS = json.RawMessage(`{"keys":[{"kty":"EC","kid":"e","crv":"P-384"}]}`)
		_, err := Start(data, Options{})
		Expect(err).To(MatchError(ContainSubstring("issuer " + clusterIssuer)))
		Expect(err).To(MatchError(ContainSubstring("P-384")))
	})
})
