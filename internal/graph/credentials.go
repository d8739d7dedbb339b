package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// AppCredentials identify an Entra app registration in a tenant and hold one
// of its credentials: a client secret, a certificate, or a source of client
// assertions such as a federated workload identity token.
type AppCredentials struct {
	TenantID string
	ClientID string

	ClientSecret string
	Certificate  *Certificate
	Assertion    *ClientAssertion
}

// ClientAssertion is a source of client assertions: signed tokens from another
// issuer that the app trusts through a federated credential.
type ClientAssertion struct {
	// ID names the source in the credential cache; the same ID must always
	// stand for the same identity.
	ID string
	// Get returns an assertion that is currently valid. The identity library
	// calls it only when it needs a new access token.
	Get func(context.Context) (string, error)
}

// credentialIdleTimeout is how long an unused credential stays cached. An
// access token lives about an hour, so a credential idle for a day holds
// nothing worth keeping; dropping it bounds the cache across Secret rotations.
const credentialIdleTimeout = 24 * time.Hour

// credentialCache keeps one azidentity credential per app and authority. Each
// credential holds its access token in memory and hands it out until shortly
// before it expires, and serialises its token requests, so any number of
// vppTokens sharing a Secret cost one token request an hour.
type credentialCache struct {
	transport *http.Client
	now       func() time.Time

	mu      sync.Mutex
	entries map[string]*cachedCredential
}

type cachedCredential struct {
	cred     azcore.TokenCredential
	lastUsed time.Time
}

// credentialKey identifies a credential by what it is made of. Secrets and
// keys enter only as hashes, so a rotated credential gets a new entry and the
// old one ages out.
func credentialKey(authority string, c AppCredentials) string {
	var material string
	switch {
	case c.Assertion != nil:
		material = "assertion:" + c.Assertion.ID
	case c.Certificate != nil:
		material = "certificate:" + c.Certificate.fingerprint()
	default:
		sum := sha256.Sum256([]byte(c.ClientSecret))
		material = "secret:" + hex.EncodeToString(sum[:])
	}
	return strings.Join([]string{
		authority, strings.ToLower(c.TenantID), strings.ToLower(c.ClientID), material,
	}, "|")
}

func (c *credentialCache) get(ep Endpoints, app AppCredentials) (azcore.TokenCredential, error) {
	key := credentialKey(ep.Authority, app)
	now := c.now()

	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if now.Sub(e.lastUsed) > credentialIdleTimeout {
			delete(c.entries, k)
		}
	}
	if e, ok := c.entries[key]; ok {
		e.lastUsed = now
		return e.cred, nil
	}

	cred, err := c.newCredential(ep, app)
	if err != nil {
		// Only argument checks fail here, such as a malformed tenant ID.
		return nil, &AuthError{Problem: err.Error()}
	}
	c.entries[key] = &cachedCredential{cred: cred, lastUsed: now}
	return cred, nil
}

// newCredential makes the azidentity credential for the app's kind of credential.
func (c *credentialCache) newCredential(ep Endpoints, app AppCredentials) (azcore.TokenCredential, error) {
	client := policy.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: ep.Authority + "/"},
		Transport: c.transport,
		// The reconciler owns retries and backoff; a retry here would hide
		// throttling from it and multiply calls to a failing tenant.
		Retry: policy.RetryOptions{MaxRetries: -1},
	}
	// Instance discovery asks login.microsoftonline.com about the authority
	// first, which is wrong for every other host: sovereign clouds, proxies.
	const noDiscovery = true

	switch {
	case app.Assertion != nil:
		get := app.Assertion.Get
		return azidentity.NewClientAssertionCredential(app.TenantID, app.ClientID, get,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: noDiscovery})
	case app.Certificate != nil:
		return azidentity.NewClientCertificateCredential(app.TenantID, app.ClientID,
			app.Certificate.Chain, app.Certificate.Key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: noDiscovery})
	default:
		return azidentity.NewClientSecretCredential(app.TenantID, app.ClientID, app.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: noDiscovery})
	}
}

// forget drops a credential, so the next call signs in afresh: used when Graph
// rejects an access token the credential still considers valid.
func (c *credentialCache) forget(ep Endpoints, app AppCredentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, credentialKey(ep.Authority, app))
}

// accessToken returns a Graph access token for the app.
func (c *credentialCache) accessToken(ctx context.Context, ep Endpoints, app AppCredentials) (string, error) {
	cred, err := c.get(ep, app)
	if err != nil {
		return "", err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ep.Scope}})
	if err != nil {
		return "", summariseAuthError(ep.Authority, err, c.now())
	}
	return tok.Token, nil
}

// summariseAuthError turns the identity library's error, whose text includes
// the raw exchange, into an AuthError or UnavailableError that names the Entra
// error code and nothing else of the reply.
func summariseAuthError(authority string, err error, now time.Time) error {
	host := hostOf(authority)
	var failed *azidentity.AuthenticationFailedError
	if !errors.As(err, &failed) || failed.RawResponse == nil {
		return &UnavailableError{Host: host, Problem: identityProblem(err)}
	}

	resp := failed.RawResponse
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return &UnavailableError{Host: host, Problem: fmt.Sprintf("%s answered %d, a redirect, which is not "+
			"followed: check --authority-host and any proxy", identityEndpoint(resp), resp.StatusCode)}
	case resp.StatusCode == http.StatusTooManyRequests:
		return &AuthError{StatusCode: resp.StatusCode, RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), now)}
	case resp.StatusCode >= 500:
		return &UnavailableError{Host: host, Problem: fmt.Sprintf("%s answered %d", identityEndpoint(resp), resp.StatusCode)}
	}

	ae := &AuthError{StatusCode: resp.StatusCode}
	body, readErr := runtime.Payload(resp)
	if readErr != nil {
		return ae
	}
	var reply struct {
		Error         string `json:"error"`
		ErrorCodes    []int  `json:"error_codes"`
		Description   string `json:"error_description"`
		CorrelationID string `json:"correlation_id"`
	}
	if json.Unmarshal(body, &reply) != nil {
		return &UnavailableError{Host: host, Problem: fmt.Sprintf("%s answered %d with a body that is not an OAuth error",
			identityEndpoint(resp), resp.StatusCode)}
	}
	// Only values of the documented shapes are kept: anything else in these
	// fields is the reply's own text, which may echo what was sent.
	if oauthErrorCode.MatchString(reply.Error) {
		ae.ErrorCode = reply.Error
	}
	if IsGUID(reply.CorrelationID) {
		ae.CorrelationID = reply.CorrelationID
	}
	if len(reply.ErrorCodes) > 0 {
		ae.AADSTS = reply.ErrorCodes[0]
	} else {
		ae.AADSTS = aadstsFromDescription(reply.Description)
	}
	return ae
}

var (
	oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)
	guid           = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// IsGUID says whether s is a GUID in its usual 8-4-4-4-12 hex form, as Entra ID writes
// client and correlation IDs.
func IsGUID(s string) bool { return guid.MatchString(s) }

// aadstsFromDescription reads the number of a leading "AADSTSnnnn:".
func aadstsFromDescription(desc string) int {
	rest, ok := strings.CutPrefix(desc, "AADSTS")
	if !ok {
		return 0
	}
	n := 0
	for _, r := range rest {
		if r < '0' || r > '9' || n > 1e8 {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// transportProblem describes a failure that produced no HTTP reply. It keeps the
// innermost cause of a URL error (refused, timeout, TLS) and drops the rest,
// whose text may quote request details.
func transportProblem(err error) string {
	var uerr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &uerr) && uerr.Timeout()):
		return "request timed out"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return problemClosed
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case uerr != nil:
		return uerr.Err.Error()
	default:
		return problemUnknown
	}
}

const (
	problemClosed  = "the connection closed before a reply"
	problemUnknown = "request failed before a reply arrived"
)

// identityProblem describes a sign-in that failed without an error reply. The
// identity library does not always wrap the transport's error, so when the
// error chain gives nothing, its text is matched for the common causes; the
// text itself is never passed on.
func identityProblem(err error) string {
	if p := transportProblem(err); p != problemUnknown {
		return p
	}
	text := err.Error()
	switch {
	case strings.Contains(text, errUnknownHost.Error()):
		return "the identity platform named a host that is not configured, so nothing was sent there"
	case strings.Contains(text, "Client.Timeout") || strings.Contains(text, "deadline exceeded"):
		return "request timed out"
	case strings.Contains(text, "connection reset") || strings.Contains(text, "EOF"):
		return problemClosed
	case strings.Contains(text, "connection refused"):
		return "connection refused"
	case strings.Contains(text, "x509:") || strings.Contains(text, "tls:"):
		return "the server's TLS certificate is not trusted"
	default:
		return "no usable reply from the identity platform"
	}
}

// identityEndpoint names the identity platform endpoint a reply came from.
func identityEndpoint(resp *http.Response) string {
	if resp.Request != nil && strings.HasSuffix(resp.Request.URL.Path, "/openid-configuration") {
		return "OpenID discovery"
	}
	return "token endpoint"
}

func hostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return rawURL
}
