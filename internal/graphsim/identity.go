package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// How the request log names the credential a client signed in with; the
// assertions' thumbprint or subject follows the prefix.
const (
	credentialSecret            = "secret"
	credentialCertificatePrefix = "certificate:"
	credentialFederatedPrefix   = "federated:"
)

// AADSTS codes of client authentication, as Entra answers them. Codes marked
// inferred are the closest documented ones for a case no public report shows.
const (
	aadstsInvalidRequest     = 90023   // the request is not valid (inferred for these uses)
	aadstsMissingParameter   = 900144  // a required form field is missing
	aadstsMalformedJWT       = 50027   // the JWT is invalid or malformed
	aadstsAssertionAppID     = 700021  // iss or sub is not the client_id
	aadstsAssertionAudience  = 700023  // aud is not the tenant's token endpoint
	aadstsAssertionTimeRange = 700024  // expired, or not valid yet
	aadstsAssertionSignature = 700027  // unknown certificate, or a bad signature
	aadstsFederatedIssuer    = 700211  // no federated credential trusts the issuer
	aadstsFederatedAudience  = 700212  // no federated credential takes the audience
	aadstsFederatedSubject   = 700213  // no federated credential names the subject
	aadstsInvalidSecret      = 7000215 // wrong client secret
	aadstsNoCredential       = 7000218 // neither a secret nor an assertion
	aadstsIssuerKeyNotFound  = 7000272 // the issuer's keys lack the token's kid
)

// graphRoots are the Graph roots whose ".default" scope each cloud's tenants
// may ask for.
var graphRoots = map[string]string{
	"AzurePublic":          "https://graph.microsoft.com",
	"AzureUSGovernment":    "https://graph.microsoft.us",
	"AzureUSGovernmentDoD": "https://dod-graph.microsoft.us",
	"AzureChina":           "https://microsoftgraph.chinacloudapi.cn",
}

// serveDiscovery answers the OpenID configuration that MSAL reads before its
// first token request, naming this server's token endpoint.
func (s *Server) serveDiscovery(w http.ResponseWriter, tenant string) int {
	base := s.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                 base + "/v2.0",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"jwks_uri":               s.URL + "/" + tenant + "/discovery/v2.0/keys",
		"response_types_supported": []string{"code", "id_token", "code id_token",
			"id_token token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post",
			"private_key_jwt", "client_secret_basic"},
		"tenant_region_scope": "NA",
		"cloud_instance_name": "microsoftonline.com",
	})
	return http.StatusOK
}

// serveToken is the client-credentials grant of the v2.0 token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string,
	entry *Request) int {
	if err := r.ParseForm(); err != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_request", aadstsMissingParameter,
			"The request body must contain the following parameter: 'grant_type'.")
	}
	clientID := r.PostForm.Get("client_id")

	if r.PostForm.Get("grant_type") != "client_credentials" {
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
	}

	s.mu.Lock()
	t, tenantOK := s.data.tenants[strings.ToLower(tenant)]
	app, appOK := s.data.apps[strings.ToLower(tenant)+"|"+strings.ToLower(clientID)]
	s.mu.Unlock()

	switch {
	case !tenantOK:
		return oauthError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	case !appOK:
		return oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
	}

	credential, rej := s.authenticateClient(r.PostForm, tenant, app)
	if rej != nil {
		return rej.write(w)
	}

	if status := checkScope(w, r.PostForm.Get("scope"), t.Cloud); status != 0 {
		return status
	}

	token := "simtoken-" + randomHex(24)
	s.mu.Lock()
	s.grants[token] = grant{tenantID: strings.ToLower(tenant), clientID: strings.ToLower(clientID),
		expires: s.now().Add(accessTokenLife)}
	s.issued = append(s.issued, token)
	s.mu.Unlock()
	entry.Credential = credential
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(accessTokenLife.Seconds()),
		"ext_expires_in": int(accessTokenLife.Seconds()),
		"access_token":   token,
	})
	return http.StatusOK
}

// authenticateClient checks the one credential a token request may present:
// the app's client secret, or a client assertion. An assertion that names a
// certificate by thumbprint is the app's own; any other is an external
// issuer's token for a federated credential. It returns the credential as the
// request log names it.
func (s *Server) authenticateClient(form url.Values, tenant string, app *App) (string, *rejection) {
	secret, assertion := form.Get("client_secret"), form.Get("client_assertion")
	switch {
	case secret != "" && assertion != "":
		// RFC 6749 allows one client authentication method per request.
		return "", invalidRequest(aadstsInvalidRequest,
			"The request must contain only one of 'client_secret' and 'client_assertion'.")
	case secret != "":
		// An app without a secret answers as for a wrong one: Entra does not
		// tell a caller which credentials an app has.
		if app.ClientSecret == "" || secret != app.ClientSecret {
			return "", invalidClient(aadstsInvalidSecret, "Invalid client secret provided. "+
				"Ensure the secret being sent in the request is the client secret value, not the "+
				"client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		return credentialSecret, nil
	case assertion == "":
		// Not invalidClient: this reply keeps the 400 graphsim has always sent.
		return "", &rejection{status: http.StatusBadRequest, code: "invalid_client",
			aadsts: aadstsNoCredential, text: "The request body must contain the following " +
				"parameter: 'client_assertion' or 'client_secret'."}
	case form.Get("client_assertion_type") == "":
		return "", invalidRequest(aadstsMissingParameter,
			"The request body must contain the following parameter: 'client_assertion_type'.")
	case form.Get("client_assertion_type") != clientAssertionType:
		return "", invalidRequest(aadstsInvalidRequest,
			"The value of 'client_assertion_type' must be '%s'.", clientAssertionType)
	}

	a, rej := readAssertion(assertion)
	if rej != nil {
		return "", rej
	}
	if a.thumbprintHeader() != "" {
		return s.verifyCertificateAssertion(a, tenant, app)
	}
	return s.verifyFederatedAssertion(a, app)
}

// checkScope accepts a scope list that asks for the tenant's own Graph; MSAL
// adds openid, profile and offline_access on its own. It answers and returns
// the status when the scope is wrong, else zero.
func checkScope(w http.ResponseWriter, scope, cloud string) int {
	want := graphRoots[cloud] + "/.default"
	for _, sc := range strings.Fields(scope) {
		if sc == want {
			return 0
		}
		for other, root := range graphRoots {
			if sc == root+"/.default" && other != cloud {
				return oauthError(w, http.StatusBadRequest, "invalid_request", 90038,
					"Tenant is in another national cloud. Sign in through the endpoints of that cloud.")
			}
		}
	}
	return oauthError(w, http.StatusBadRequest, "invalid_scope", 70011,
		fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
}

// rejection is an identity platform error reply that a check decided on and
// serveToken writes.
type rejection struct {
	status int
	code   string // the OAuth error, such as invalid_client
	aadsts int
	text   string
}

func (rj *rejection) write(w http.ResponseWriter) int {
	return oauthError(w, rj.status, rj.code, rj.aadsts, rj.text)
}

// invalidClient is the 401 Entra answers when a client's credential fails.
func invalidClient(aadsts int, format string, args ...any) *rejection {
	return &rejection{status: http.StatusUnauthorized, code: "invalid_client", aadsts: aadsts,
		text: fmt.Sprintf(format, args...)}
}

// invalidRequest is the 400 Entra answers for a request it cannot read.
func invalidRequest(aadsts int, format string, args ...any) *rejection {
	return &rejection{status: http.StatusBadRequest, code: "invalid_request", aadsts: aadsts,
		text: fmt.Sprintf(format, args...)}
}

// oauthError writes the identity platform's error reply.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, text string) int {
	trace, corr := newGUID(), newGUID()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, text, trace, corr, time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      "https://login.microsoftonline.com/error?code=" + fmt.Sprint(aadsts),
	})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
