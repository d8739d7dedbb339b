package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
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
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) int {
	if err := r.ParseForm(); err != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
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
	case r.PostForm.Get("client_secret") == "":
		return oauthError(w, http.StatusBadRequest, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case r.PostForm.Get("client_secret") != app.ClientSecret:
		return oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
	}

	if status := checkScope(w, r.PostForm.Get("scope"), t.Cloud); status != 0 {
		return status
	}

	token := "simtoken-" + randomHex(24)
	s.mu.Lock()
	s.grants[token] = grant{tenantID: strings.ToLower(tenant), clientID: strings.ToLower(clientID),
		expires: s.now().Add(accessTokenLife)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(accessTokenLife.Seconds()),
		"ext_expires_in": int(accessTokenLife.Seconds()),
		"access_token":   token,
	})
	return http.StatusOK
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
