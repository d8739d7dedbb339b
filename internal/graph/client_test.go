package graph

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

const (
	tenant   = "8d2f7c41-6a3e-4b59-9c10-2e7f5a8b3d64"
	client   = "1f4a9e2b-7c6d-4e85-a3b1-6d0c9f2e8a57"
	secret   = "client-secret-value~Xy9"
	tokenID  = "276433d2-33d2-2764-d233-6427d2336427"
	otherID  = "3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	appleKey = "apple-token-value-never-decoded"
)

func simToken(id string) graphsim.VppToken {
	return graphsim.VppToken{Properties: map[string]any{
		"id": id, "organizationName": "Fabrikam", "vppTokenAccountType": "education",
		"appleId": "vpp@fabrikam.example", "expirationDateTime": "2027-01-01T00:00:00.0000001+01:00",
		"lastSyncDateTime": "0001-01-01T00:00:00Z", "token": appleKey,
		"lastModifiedDateTime": "2026-01-01T00:00:00Z", "state": "valid", "lastSyncStatus": "none",
		"automaticallyUpdateApps": true, "countryOrRegion": "de",
	}}
}

// startSim serves the tenant's two tokens and returns a client aimed at the
// simulator, and a target for the first token.
func startSim() (*graphsim.Server, *Client, Target) {
	GinkgoHelper()
	sim, err := graphsim.Start(graphsim.Data{Tenants: []graphsim.Tenant{{
		ID:        tenant,
		Apps:      []graphsim.App{{ClientID: client, ClientSecret: secret}},
		VppTokens: []graphsim.VppToken{simToken(tokenID), simToken(otherID)},
	}}}, graphsim.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sim.Close)
	c := NewClient(Options{
		Hosts:     Hosts{GraphEndpoint: sim.URL, AuthorityHost: sim.URL},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}},
		Timeout:   2 * time.Second,
	})
	return sim, c, Target{TokenID: tokenID, App: AppCredentials{TenantID: tenant, ClientID: client, ClientSecret: secret}}
}

var _ = Describe("Client", func() {
	var (
		sim *graphsim.Server
		c   *Client
		t   Target
	)

	BeforeEach(func() { sim, c, t = startSim() })

	It("signs in once and syncs with a POST to syncLicenses", func() {
		res, err := c.SyncLicenses(context.Background(), t)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Token.OrganizationName).To(Equal("Fabrikam"))
		Expect(res.Token.LastSyncStatus).To(Equal("completed"))
		Expect(*res.Token.ExpirationDateTime).To(Equal(time.Date(2026, 12, 31, 23, 0, 0, 100, time.UTC)))
		Expect(res.RequestID).NotTo(BeEmpty())
		Expect(res.Fetched).To(BeFalse())

		var ops []graphsim.Op
		for _, r := range sim.Requests() {
			ops = append(ops, r.Op)
		}
		Expect(ops).To(Equal([]graphsim.Op{graphsim.OpDiscovery, graphsim.OpToken, graphsim.OpSyncLicenses}))
		Expect(sim.Requests()[2].Path).To(Equal("/v1.0/deviceAppManagement/vppTokens/" + tokenID + "/syncLicenses"))
	})

	It("reuses the access token across tokens and concurrent calls", func() {
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(id string) {
				defer GinkgoRecover()
				defer wg.Done()
				tt := t
				tt.TokenID = id
				_, err := c.SyncLicenses(context.Background(), tt)
				Expect(err).NotTo(HaveOccurred())
			}([]string{tokenID, otherID}[i%2])
		}
		wg.Wait()
		Expect(sim.Count(graphsim.OpToken, "")).To(Equal(1))
		Expect(sim.Count(graphsim.OpSyncLicenses, "")).To(Equal(8))
	})

	It("signs in afresh with a rotated secret", func() {
		_, err := c.SyncLicenses(context.Background(), t)
		Expect(err).NotTo(HaveOccurred())
		t.App.ClientSecret = "rotated-but-wrong"
		_, err = c.SyncLicenses(context.Background(), t)
		Expect(err).To(HaveOccurred())
		Expect(sim.Count(graphsim.OpToken, "")).To(Equal(2))
	})

	It("GETs the token when the reply lacks it", func() {
		Expect(sim.SetReplyShape(tokenID, graphsim.ShapeNoContent)).To(Succeed())
		res, err := c.SyncLicenses(context.Background(), t)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Fetched).To(BeTrue())
		Expect(res.Token.CountryOrRegion).To(Equal("de"))
		Expect(sim.Count(graphsim.OpGetVppToken, tokenID)).To(Equal(1))
	})

	It("summarises a rejected secret without echoing the exchange", func() {
		t.App.ClientSecret = "wrong-secret-value"
		_, err := c.SyncLicenses(context.Background(), t)
		var ae *AuthError
		Expect(errors.As(err, &ae)).To(BeTrue())
		Expect(ae.StatusCode).To(Equal(http.StatusUnauthorized))
		Expect(ae.AADSTS).To(Equal(7000215))
		Expect(ae.ErrorCode).To(Equal("invalid_client"))
		Expect(err.Error()).To(ContainSubstring("use the secret's value, not its ID"))
		Expect(err.Error()).NotTo(Or(ContainSubstring("wrong-secret-value"), ContainSubstring("client_secret"),
			ContainSubstring("Trace ID")))
	})

	DescribeTable("names the sign-in problem",
		func(mutate func(*Target), aadsts int) {
			mutate(&t)
			_, err := c.SyncLicenses(context.Background(), t)
			var ae *AuthError
			Expect(errors.As(err, &ae)).To(BeTrue(), "got %v", err)
			Expect(ae.AADSTS).To(Equal(aadsts))
		},
		Entry("an unknown tenant", func(t *Target) { t.App.TenantID = "00000000-1111-4111-8111-000000000000" }, 90002),
		Entry("an app not in the tenant", func(t *Target) { t.App.ClientID = "00000000-2222-4222-8222-000000000000" }, 700016),
		Entry("a tenant of another cloud", func(t *Target) { t.Cloud = "AzureUSGovernment" }, 90038),
	)

	DescribeTable("types Graph's refusals",
		func(fault graphsim.Fault, status int, retryAfter types.GomegaMatcher) {
			sim.Inject(fault)
			_, err := c.SyncLicenses(context.Background(), t)
			var ae *APIError
			Expect(errors.As(err, &ae)).To(BeTrue(), "got %v", err)
			Expect(ae.StatusCode).To(Equal(status))
			Expect(ae.RequestID).NotTo(BeEmpty())
			Expect(ae.RetryAfter).To(retryAfter)
			Expect(ae.Message).NotTo(ContainSubstring("_version"))
		},
		Entry("404", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 404}, 404, BeZero()),
		Entry("429 with seconds", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 429, RetryAfter: "17"}, 429,
			Equal(17*time.Second)),
		Entry("429 without Retry-After", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 429}, 429, BeZero()),
		Entry("503 with an HTTP date", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 503,
			RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 503, BeNumerically("~", time.Hour, 2*time.Second)),
	)

	It("does not take a 200 without a vppToken for a sync", func() {
		sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusOK, Body: `{}`})
		sim.Inject(graphsim.Fault{Op: graphsim.OpGetVppToken, Status: http.StatusOK,
			Body: `{"error":{"code":"InternalServerError","message":"oops"}}`})
		_, err := c.SyncLicenses(context.Background(), t)
		var ue *UnavailableError
		Expect(errors.As(err, &ue)).To(BeTrue(), "got %v", err)
		Expect(ue.Problem).To(ContainSubstring("returned no vppToken"))
		Expect(ue.RequestID).NotTo(BeEmpty())
	})

	It("reports a token the tenant does not hold as 404", func() {
		t.TokenID = "99999999-9999-4999-8999-999999999999"
		_, err := c.SyncLicenses(context.Background(), t)
		var ae *APIError
		Expect(errors.As(err, &ae)).To(BeTrue())
		Expect(ae.StatusCode).To(Equal(http.StatusNotFound))
		Expect(ae.Code).To(Equal("ResourceNotFound"))
	})

	DescribeTable("reports unusable replies as unavailable",
		func(fault graphsim.Fault, problem string) {
			sim.Inject(fault)
			_, err := c.SyncLicenses(context.Background(), t)
			var ue *UnavailableError
			Expect(errors.As(err, &ue)).To(BeTrue(), "got %v", err)
			Expect(ue.Error()).To(ContainSubstring(problem))
			Expect(ue.Error()).NotTo(ContainSubstring(appleKey))
		},
		Entry("a dropped connection", graphsim.Fault{Op: graphsim.OpSyncLicenses, Reset: true}, "connection closed before a reply"),
		Entry("a reply slower than the timeout", graphsim.Fault{Op: graphsim.OpSyncLicenses, Delay: 5 * time.Second}, "timed out"),
		Entry("a malformed body", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 200,
			Body: `{"token":"` + appleKey + `","state":`}, "not a vppToken"),
		Entry("an oversized body", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 200,
			Body: `{"id":"` + tokenID + `","x":"` + strings.Repeat("a", 2<<20) + `"}`}, "larger than"),
		Entry("a reply about another token", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 200,
			Body: `{"id":"` + otherID + `"}`}, "another vppToken"),
		Entry("a redirect", graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: 307,
			Body: " "}, "redirect"),
		Entry("an identity platform outage", graphsim.Fault{Op: graphsim.OpToken, Status: 503}, "token endpoint answered 503"),
		Entry("a failing OpenID discovery", graphsim.Fault{Op: graphsim.OpDiscovery, Status: 500}, "OpenID discovery answered 500"),
		Entry("a token endpoint slower than the timeout", graphsim.Fault{Op: graphsim.OpToken, Delay: 5 * time.Second}, "timed out"),
		Entry("a token endpoint dropping the connection", graphsim.Fault{Op: graphsim.OpToken, Reset: true}, "closed before a reply"),
	)

	It("sends no secret to Graph and a fresh client-request-id each time", func() {
		_, err := c.SyncLicenses(context.Background(), t)
		Expect(err).NotTo(HaveOccurred())
		_, err = c.SyncLicenses(context.Background(), t)
		Expect(err).NotTo(HaveOccurred())
		for _, r := range sim.Requests() {
			Expect(r.Path).NotTo(ContainSubstring(secret))
		}
	})
})

var _ = Describe("Hosts", func() {
	DescribeTable("come from the cloud table unless the operator overrides them",
		func(h Hosts, cloud string, want Endpoints) {
			Expect(h.Resolve(cloud)).To(Equal(want))
		},
		Entry("the default cloud", Hosts{}, "", Endpoints{Graph: "https://graph.microsoft.com",
			Authority: "https://login.microsoftonline.com", Scope: "https://graph.microsoft.com/.default"}),
		Entry("GCC High", Hosts{}, "AzureUSGovernment", Endpoints{Graph: "https://graph.microsoft.us",
			Authority: "https://login.microsoftonline.us", Scope: "https://graph.microsoft.us/.default"}),
		Entry("DoD", Hosts{}, "AzureUSGovernmentDoD", Endpoints{Graph: "https://dod-graph.microsoft.us",
			Authority: "https://login.microsoftonline.us", Scope: "https://dod-graph.microsoft.us/.default"}),
		Entry("21Vianet", Hosts{}, "AzureChina", Endpoints{Graph: "https://microsoftgraph.chinacloudapi.cn",
			Authority: "https://login.chinacloudapi.cn", Scope: "https://microsoftgraph.chinacloudapi.cn/.default"}),
		Entry("overrides keep the cloud's scope", Hosts{GraphEndpoint: "https://proxy.example/graph",
			AuthorityHost: "https://login.proxy.example"}, "AzureUSGovernment", Endpoints{
			Graph: "https://proxy.example/graph", Authority: "https://login.proxy.example",
			Scope: "https://graph.microsoft.us/.default"}),
	)

	It("refuses an unknown cloud", func() {
		_, err := Hosts{}.Resolve("AzureGermany")
		Expect(err).To(MatchError(ContainSubstring(`unknown cloud "AzureGermany"`)))
	})

	DescribeTable("accept only plain https overrides",
		func(raw, want, problem string) {
			got, err := ParseEndpoint(raw)
			if problem != "" {
				Expect(err).To(MatchError(ContainSubstring(problem)))
				return
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("a host", "https://graph.proxy.example", "https://graph.proxy.example", ""),
		Entry("a trailing slash", "https://127.0.0.1:8443/", "https://127.0.0.1:8443", ""),
		Entry("a path prefix", "https://proxy.example/graph/", "https://proxy.example/graph", ""),
		Entry("plain http", "http://graph.proxy.example", "", "must be an https URL"),
		Entry("no host", "https://", "", "has no host"),
		Entry("user information", "https://u:p@proxy.example", "", "user information"),
		Entry("a query", "https://proxy.example/?a=b", "", "query"),
	)
})

var _ = Describe("Client sign-in", func() {
	var (
		sim *graphsim.Server
		c   *Client
		t   Target
	)

	BeforeEach(func() { sim, c, t = startSim() })

	It("sends credentials only to configured hosts, whatever OpenID discovery names", func() {
		elsewhere, err := graphsim.Start(graphsim.Data{Tenants: []graphsim.Tenant{{ID: tenant,
			Apps: []graphsim.App{{ClientID: client, ClientSecret: secret}}}}}, graphsim.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(elsewhere.Close)
		sim.Inject(graphsim.Fault{Op: graphsim.OpDiscovery, Status: http.StatusOK, Body: `{
			"issuer": "` + sim.URL + `/` + tenant + `/v2.0",
			"token_endpoint": "` + elsewhere.URL + `/` + tenant + `/oauth2/v2.0/token",
			"authorization_endpoint": "` + elsewhere.URL + `/` + tenant + `/oauth2/v2.0/authorize"}`})

		_, err = c.SyncLicenses(context.Background(), t)
		var unavailable *UnavailableError
		Expect(errors.As(err, &unavailable)).To(BeTrue(), "%v", err)
		Expect(unavailable.Problem).To(ContainSubstring("named a host that is not configured"))
		Expect(elsewhere.Requests()).To(BeEmpty())
	})

	It("keeps only the documented shapes of the identity platform's error fields", func() {
		sim.Inject(graphsim.Fault{Op: graphsim.OpToken, Status: http.StatusBadRequest, Body: `{
			"error": "` + secret + `", "correlation_id": "` + secret + `",
			"error_description": "AADSTS7000215: Invalid client secret.", "error_codes": [7000215]}`})

		_, err := c.SyncLicenses(context.Background(), t)
		var auth *AuthError
		Expect(errors.As(err, &auth)).To(BeTrue(), "%v", err)
		Expect(auth.AADSTS).To(Equal(7000215))
		Expect(auth.ErrorCode).To(BeEmpty())
		Expect(auth.CorrelationID).To(BeEmpty())
		Expect(err.Error()).NotTo(ContainSubstring(secret))
	})

	It("reports a redirect from the identity platform as such, not as bad credentials", func() {
		sim.Inject(graphsim.Fault{Op: graphsim.OpToken, Status: http.StatusFound, Body: `{}`})

		_, err := c.SyncLicenses(context.Background(), t)
		var unavailable *UnavailableError
		Expect(errors.As(err, &unavailable)).To(BeTrue(), "%v", err)
		Expect(unavailable.Problem).To(ContainSubstring("a redirect, which is not followed"))
	})
})
