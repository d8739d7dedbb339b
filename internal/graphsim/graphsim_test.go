package graphsim

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
