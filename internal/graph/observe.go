package graph

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The operations a request is counted under, by what it asks for.
const (
	// OperationSyncLicenses is the POST .../vppTokens/{id}/syncLicenses.
	OperationSyncLicenses = "syncLicenses"
	// OperationGetVppToken is the GET .../vppTokens/{id} that completes a reply.
	OperationGetVppToken = "getVppToken"
	// OperationToken is a sign-in at the identity platform's token endpoint.
	OperationToken = "token"
	// OperationDiscovery is any other identity platform request: the OpenID
	// metadata the identity library reads before its first sign-in to a tenant.
	OperationDiscovery = "discovery"
)

// CodeNoResponse is the code of a request that got no HTTP reply at all.
const CodeNoResponse = "error"

// Observer is told of every request sent to a configured host: its
// operation, the reply's status code (or CodeNoResponse) and the time until
// the reply's headers arrived. It must be safe for concurrent use.
type Observer func(operation, code string, elapsed time.Duration)

// observed tells an Observer of each request it carries.
type observed struct {
	next    http.RoundTripper
	observe Observer
	now     func() time.Time
}

func (o *observed) RoundTrip(req *http.Request) (*http.Response, error) {
	start := o.now()
	resp, err := o.next.RoundTrip(req)
	code := CodeNoResponse
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	o.observe(operationOf(req), code, o.now().Sub(start))
	return resp, err
}

// operationOf names what a request asks for from its method and path alone,
// so that nothing of the query, headers or body reaches a label.
func operationOf(req *http.Request) string {
	path := req.URL.Path
	switch {
	case strings.Contains(path, "/deviceAppManagement/vppTokens/") && strings.HasSuffix(path, "/syncLicenses"):
		return OperationSyncLicenses
	case strings.Contains(path, "/deviceAppManagement/vppTokens/") && req.Method == http.MethodGet:
		return OperationGetVppToken
	case strings.HasSuffix(path, "/oauth2/v2.0/token"):
		return OperationToken
	default:
		return OperationDiscovery
	}
}
