package graphsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

const vppTokensPath = "/v1.0/deviceAppManagement/vppTokens"

// serve routes a request, once its latency has passed, applies faults, and logs it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.holdBack(r.Context()) {
		return // the client gave up before the reply was due
	}
	entry := Request{Time: s.now(), Method: r.Method, Path: r.URL.Path, UserAgent: r.UserAgent()}
	defer func() { s.record(entry) }()

	op, tenant, tokenID := route(r)
	entry.Op, entry.TokenID = op, tokenID
	if op == OpDiscovery || op == OpToken {
		entry.TenantID = strings.ToLower(tenant)
		if op == OpToken && r.ParseForm() == nil {
			entry.ClientID = r.PostForm.Get("client_id")
			// Kept before faults apply: a request a fault answers still sent it.
			s.receiveAssertion(r.PostForm.Get("client_assertion"))
		}
	} else {
		entry.RequestID = newGUID()
		w.Header().Set("request-id", entry.RequestID)
		w.Header().Set("client-request-id", r.Header.Get("client-request-id"))
		s.identifyCaller(r, &entry)
	}

	errBody := func(status int) string { return graphErrorBody(status, entry.RequestID, s.now()) }
	if op == OpToken || op == OpDiscovery {
		errBody = func(status int) string { return oauthErrorBody(status) }
	}
	if f := s.takeFault(op, tokenID); f != nil && s.applyFault(r.Context(), w, f, &entry, errBody) {
		return
	}

	switch op {
	case OpDiscovery:
		entry.Status = s.serveDiscovery(w, tenant)
	case OpToken:
		entry.Status = s.serveToken(w, r, tenant, &entry)
	case OpSyncLicenses, OpGetVppToken, OpListVppTokens:
		entry.Status = s.serveGraph(w, r, op, tokenID, &entry)
	default:
		entry.Status = graphError(w, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Resource not found for the segment '%s'.", lastSegment(r.URL.Path)), entry.RequestID, s.now())
	}
}

// route tells which request this is.
func route(r *http.Request) (op Op, tenant, tokenID string) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		return OpDiscovery, strings.Trim(strings.TrimSuffix(p, "/v2.0/.well-known/openid-configuration"), "/"), ""
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/oauth2/v2.0/token"):
		return OpToken, strings.Trim(strings.TrimSuffix(p, "/oauth2/v2.0/token"), "/"), ""
	case p == vppTokensPath && r.Method == http.MethodGet:
		return OpListVppTokens, "", ""
	}
	rest, ok := strings.CutPrefix(p, vppTokensPath+"/")
	if !ok {
		return OpUnknown, "", ""
	}
	id, action, _ := strings.Cut(rest, "/")
	switch {
	case action == "syncLicenses" && r.Method == http.MethodPost:
		return OpSyncLicenses, "", id
	case action == "" && r.Method == http.MethodGet:
		return OpGetVppToken, "", id
	}
	return OpUnknown, "", id
}

// identifyCaller fills in the log entry's tenant and client from the access
// token, so that requests a fault answers are attributed too.
func (s *Server) identifyCaller(r *http.Request, entry *Request) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.grants[bearer]; ok {
		entry.TenantID, entry.ClientID = g.tenantID, g.clientID
	}
}

// serveGraph answers the vppToken endpoints for a signed-in app.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, op Op, tokenID string, entry *Request) int {
	now := s.now()
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")

	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[bearer]
	if !ok || !now.Before(g.expires) {
		return graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken",
			"Access token validation failure. Invalid audience.", entry.RequestID, now)
	}
	if s.data.apps[g.tenantID+"|"+g.clientID].Denied {
		return graphError(w, http.StatusForbidden, "Forbidden", intuneMessage(
			"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.ReadWrite.All", now),
			entry.RequestID, now)
	}

	if op == OpListVppTokens {
		var list []map[string]any
		for id, owner := range s.data.owners {
			if owner == g.tenantID {
				list = append(list, s.data.tokens[id].Properties)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceAppManagement/vppTokens",
			"value":          list,
		})
		return http.StatusOK
	}

	tok, ok := s.data.tokens[strings.ToLower(tokenID)]
	if !ok || s.data.owners[strings.ToLower(tokenID)] != g.tenantID {
		return graphError(w, http.StatusNotFound, "ResourceNotFound",
			intuneMessage("Resource not found", now), entry.RequestID, now)
	}

	if op == OpGetVppToken {
		s.advanceSync(tok, now)
		writeJSON(w, http.StatusOK, withContext(tok.Properties))
		return http.StatusOK
	}

	if status, retryAfter := s.throttle(g, now); status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		return graphError(w, status, "TooManyRequests", intuneMessage("Too many requests", now), entry.RequestID, now)
	}
	tok.pendingPolls = tok.SyncPolls
	if tok.pendingPolls > 0 {
		tok.Properties["lastSyncStatus"] = "inProgress"
	} else {
		finishSync(tok, now)
	}
	return writeSyncReply(w, tok)
}

// advanceSync moves a sync in progress on by one GET, finishing it when its
// polls are used up.
func (s *Server) advanceSync(tok *VppToken, now time.Time) {
	if tok.Properties["lastSyncStatus"] != "inProgress" {
		return
	}
	if tok.pendingPolls > 0 {
		tok.pendingPolls--
		return
	}
	finishSync(tok, now)
}

func finishSync(tok *VppToken, now time.Time) {
	result := tok.SyncResult
	if result == "" {
		result = "completed"
	}
	tok.Properties["lastSyncStatus"] = result
	tok.Properties["lastSyncDateTime"] = now.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

// writeSyncReply answers syncLicenses in the token's reply shape.
func writeSyncReply(w http.ResponseWriter, tok *VppToken) int {
	switch tok.ReplyShape {
	case ShapeWrapped:
		v := maps.Clone(tok.Properties)
		v["@odata.type"] = "#microsoft.graph.vppToken"
		writeJSON(w, http.StatusOK, map[string]any{"value": v})
	case ShapeWrappedPartial:
		writeJSON(w, http.StatusOK, map[string]any{"value": map[string]any{
			"@odata.type":    "#microsoft.graph.vppToken",
			"id":             tok.Properties["id"],
			"lastSyncStatus": tok.Properties["lastSyncStatus"],
		}})
	case ShapeEmpty:
		w.WriteHeader(http.StatusOK)
	case ShapeNoContent:
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	default:
		writeJSON(w, http.StatusOK, withContext(tok.Properties))
	}
	return http.StatusOK
}

func withContext(props map[string]any) map[string]any {
	v := maps.Clone(props)
	v["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#deviceAppManagement/vppTokens/$entity"
	return v
}

// intuneMessage wraps text the way Intune does: a JSON document inside the
// message of Graph's error envelope, with its support trailer.
func intuneMessage(text string, now time.Time) string {
	doc, _ := json.Marshal(map[string]any{
		"_version": 3,
		"Message": fmt.Sprintf("%s - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: %s - Url: https://fef.msub02.manage.microsoft.com/VppToken - Version: 1.0 - Time: %s",
			text, newGUID(), now.UTC().Format(time.RFC3339)),
		"CustomApiErrorPhrase": "",
		"RetryAfter":           nil,
		"ErrorSourceService":   "",
		"HttpHeaders":          "{}",
	})
	return string(doc)
}

// graphError writes Graph's error envelope.
func graphError(w http.ResponseWriter, status int, code, message, requestID string, now time.Time) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(graphEnvelope(code, message, requestID, now)))
	return status
}

func graphEnvelope(code, message, requestID string, now time.Time) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              now.UTC().Format("2006-01-02T15:04:05"),
			"request-id":        requestID,
			"client-request-id": requestID,
		},
	}})
	return string(b)
}

// graphErrorBody is the envelope a fault with no Body sends for its status.
func graphErrorBody(status int, requestID string, now time.Time) string {
	if status < 400 {
		return ""
	}
	codes := map[int]string{
		http.StatusBadRequest:          "BadRequest",
		http.StatusUnauthorized:        "InvalidAuthenticationToken",
		http.StatusForbidden:           "Forbidden",
		http.StatusNotFound:            "ResourceNotFound",
		http.StatusTooManyRequests:     "TooManyRequests",
		http.StatusInternalServerError: "InternalServerError",
		http.StatusBadGateway:          "BadGateway",
		http.StatusServiceUnavailable:  "ServiceUnavailable",
		http.StatusGatewayTimeout:      "GatewayTimeout",
	}
	code, ok := codes[status]
	if !ok {
		code = "UnknownError"
	}
	return graphEnvelope(code, intuneMessage(http.StatusText(status), now), requestID, now)
}

// oauthErrorBody is the identity platform's reply for a fault with no Body.
func oauthErrorBody(status int) string {
	if status < 400 {
		return ""
	}
	code := "temporarily_unavailable"
	if status < 500 && status != http.StatusTooManyRequests {
		code = "invalid_request"
	}
	b, _ := json.Marshal(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS90033: A transient error has occurred (%d). Please try again.", status),
		"error_codes":       []int{90033},
	})
	return string(b)
}

func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndex(p, "/")+1:]
}
