package graph

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds one HTTP request, reply body included.
	DefaultTimeout = 30 * time.Second
	// maxBody caps what is read of a reply. A vppToken is well under 2 KiB;
	// anything near the cap is not one.
	maxBody = 1 << 20
)

// Options configure a Client.
type Options struct {
	// Hosts overrides the cloud table's hosts.
	Hosts Hosts
	// Transport carries every request, to Graph and to the identity platform.
	// Nil means http.DefaultTransport, which trusts the system's CAs
	// (SSL_CERT_FILE included).
	Transport http.RoundTripper
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent with every Graph request.
	UserAgent string
	// Now is the clock for token cache ageing and Retry-After dates; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told of every request sent to Graph or the
	// identity platform; refused requests to other hosts are not sent.
	Observe Observer
}

// Client calls Graph's vppToken endpoints on behalf of app registrations.
// It is safe for concurrent use.
type Client struct {
	hosts     Hosts
	http      *http.Client
	userAgent string
	now       func() time.Time
	creds     *credentialCache
}

// NewClient returns a Client.
func NewClient(opts Options) *Client {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	transport := opts.Transport
	if opts.Observe != nil {
		transport = &observed{next: transport, observe: opts.Observe, now: time.Now}
	}
	hc := &http.Client{
		Transport: &knownHosts{next: transport, hosts: opts.Hosts.all()},
		Timeout:   opts.Timeout,
		// A redirect would carry the request, and with the identity platform its
		// credentials, to a host nobody configured. Neither service redirects
		// these calls, so any redirect is an error.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Client{
		hosts:     opts.Hosts,
		http:      hc,
		userAgent: opts.UserAgent,
		now:       opts.Now,
		creds:     &credentialCache{transport: hc, now: opts.Now, entries: map[string]*cachedCredential{}},
	}
}

// Target is one vppToken and the app that may act on it.
type Target struct {
	Cloud   string
	TokenID string
	App     AppCredentials
}

// SyncResult is the outcome of a successful SyncLicenses.
type SyncResult struct {
	Token *VppToken
	// RequestID is the request-id of the syncLicenses reply.
	RequestID string
	// Fetched says the reply lacked properties and the token was read with a GET.
	Fetched bool
}

// SyncLicenses asks Intune to sync the token's licences with Apple, the
// documented POST .../vppTokens/{id}/syncLicenses, and returns the token's
// state. When the reply does not carry every property, it GETs the token.
func (c *Client) SyncLicenses(ctx context.Context, t Target) (*SyncResult, error) {
	ep, err := c.hosts.Resolve(t.Cloud)
	if err != nil {
		return nil, err
	}
	bearer, err := c.creds.accessToken(ctx, ep, t.App)
	if err != nil {
		return nil, err
	}

	tok, complete, requestID, err := c.call(ctx, http.MethodPost, ep, t, bearer, "/syncLicenses")
	if err != nil {
		return nil, err
	}
	res := &SyncResult{Token: tok, RequestID: requestID}
	if complete {
		return res, nil
	}

	got, err := c.GetVppToken(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("reading the token after syncLicenses: %w", err)
	}
	res.Token, res.Fetched = got.Token, true
	return res, nil
}

// GetVppToken reads the token, GET .../vppTokens/{id}: how the operator
// follows a sync that Intune is still running.
func (c *Client) GetVppToken(ctx context.Context, t Target) (*SyncResult, error) {
	ep, err := c.hosts.Resolve(t.Cloud)
	if err != nil {
		return nil, err
	}
	bearer, err := c.creds.accessToken(ctx, ep, t.App)
	if err != nil {
		return nil, err
	}
	tok, _, requestID, err := c.call(ctx, http.MethodGet, ep, t, bearer, "")
	if err != nil {
		return nil, err
	}
	// Whatever else a GET leaves out, it must be about a vppToken: a 200 with
	// an empty object or an error envelope in it is not one.
	if tok == nil || tok.ID == "" {
		return nil, &UnavailableError{Host: hostOf(ep.Graph), Problem: "GET of the vppToken returned no vppToken",
			RequestID: requestID}
	}
	return &SyncResult{Token: tok, RequestID: requestID, Fetched: true}, nil
}

// call makes one Graph request on the token and decodes the reply.
func (c *Client) call(ctx context.Context, method string, ep Endpoints, t Target, bearer, action string) (
	tok *VppToken, complete bool, requestID string, err error) {
	u := ep.Graph + "/v1.0/deviceAppManagement/vppTokens/" + url.PathEscape(t.TokenID) + action
	host := hostOf(ep.Graph)
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, false, "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", newRequestID())
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false, "", &UnavailableError{Host: host, Problem: transportProblem(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	requestID = truncate(resp.Header.Get("request-id"), maxIdentifier)
	unavailable := func(problem string) error {
		return &UnavailableError{Host: host, Problem: problem, RequestID: requestID}
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return nil, false, requestID, unavailable("reading the reply: " + transportProblem(err))
	case len(body) > maxBody:
		return nil, false, requestID, unavailable(fmt.Sprintf("reply is larger than %d bytes", maxBody))
	}

	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, false, requestID, unavailable(fmt.Sprintf("answered %d, a redirect, which is not followed",
			resp.StatusCode))
	case resp.StatusCode >= 400:
		apiErr := parseAPIError(resp, body, c.now())
		if resp.StatusCode == http.StatusUnauthorized {
			c.creds.forget(ep, t.App)
		}
		return nil, false, requestID, apiErr
	}

	tok, complete, err = decodeVppToken(body)
	if err != nil {
		return nil, false, requestID, unavailable(err.Error())
	}
	if tok != nil && tok.ID != "" && !strings.EqualFold(tok.ID, t.TokenID) {
		return nil, false, requestID, unavailable("reply is about another vppToken")
	}
	return tok, complete, requestID, nil
}

// newRequestID returns a random GUID for client-request-id, which Graph asks
// callers to send so Microsoft support can find a request.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// knownHosts refuses requests to any host but the configured Graph and
// identity platform hosts. The identity library follows the token endpoint
// that OpenID discovery names; without this, a discovery reply could send the
// app's credentials anywhere.
type knownHosts struct {
	next  http.RoundTripper
	hosts map[string]bool
}

// errUnknownHost is the refusal of a request to a host nobody configured.
var errUnknownHost = errors.New("not a configured Graph or identity platform host")

func (k *knownHosts) RoundTrip(req *http.Request) (*http.Response, error) {
	if !k.hosts[strings.ToLower(req.URL.Host)] {
		return nil, fmt.Errorf("refusing to send a request to %s: %w", truncate(req.URL.Host, maxIdentifier),
			errUnknownHost)
	}
	return k.next.RoundTrip(req)
}
