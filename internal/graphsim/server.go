// Package graphsim is an HTTPS fake of the two Microsoft services the operator
// calls: the identity platform's client-credentials sign-in (OpenID discovery
// and the v2.0 token endpoint, taking a client secret, a certificate-signed
// client assertion or an external issuer's token for a federated credential)
// and Graph's vppToken endpoints. It serves tenants, apps and tokens from
// data, answers as the documented and observed services do (Intune's nested
// error messages included), lets tests inject failures, and keeps a log of
// every request for tests to assert on.
package graphsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// Op names a kind of request in the log and in faults.
type Op string

// The requests graphsim serves.
const (
	OpDiscovery     Op = "discovery"     // GET /{tenant}/v2.0/.well-known/openid-configuration
	OpToken         Op = "token"         // POST /{tenant}/oauth2/v2.0/token
	OpSyncLicenses  Op = "syncLicenses"  // POST /v1.0/deviceAppManagement/vppTokens/{id}/syncLicenses
	OpGetVppToken   Op = "getVppToken"   // GET /v1.0/deviceAppManagement/vppTokens/{id}
	OpListVppTokens Op = "listVppTokens" // GET /v1.0/deviceAppManagement/vppTokens
	OpUnknown       Op = "unknown"       // anything else, answered 400 as Graph does
	accessTokenLife    = 3599 * time.Second
)

// Request is one entry of the request log.
type Request struct {
	Time     time.Time
	Op       Op
	Method   string
	Path     string
	TenantID string // from the path for identity requests, from the access token for Graph
	ClientID string
	TokenID  string
	Status   int
	// RequestID is the request-id Graph answered with.
	RequestID string
	UserAgent string
	// Credential is what a token request signed in with: "secret",
	// "certificate:<hex SHA-256 thumbprint>" or "federated:<subject>". It is
	// empty when no access token was issued.
	Credential string
}

// Fault makes matching requests fail. Zero fields match anything.
type Fault struct {
	Op      Op
	TokenID string
	// Status is the HTTP status to answer with. With Status 200 and a Body the
	// fault replaces a successful reply, to send malformed or oversized bodies.
	Status int
	// RetryAfter is sent verbatim as the Retry-After header when not empty.
	RetryAfter string
	// Body replaces the error envelope graphsim would write for Status.
	Body string
	// Delay holds the reply back; a client that gives up first gets nothing.
	Delay time.Duration
	// Reset drops the connection instead of answering.
	Reset bool
	// Times is how many requests the fault hits; zero means until cleared.
	Times int
}

// Options configure a Server.
type Options struct {
	// Addr to listen on; empty means 127.0.0.1 on a free port.
	Addr string
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// AccessLog, when set, gets a line for every request.
	AccessLog io.Writer
	// Throttle, when set, answers syncLicenses calls over Intune's write
	// limits with 429.
	Throttle *Throttle
	// Latency holds every reply back, Graph's and the identity platform's
	// alike, as the network and the services do; Jitter moves each delay by
	// up to that much either way, uniformly. Zero answers at once.
	Latency, Jitter time.Duration
}

// Server is a running graphsim.
type Server struct {
	// URL is the base URL for both the authority host and the Graph endpoint.
	URL string

	now       func() time.Time
	accessLog io.Writer
	ca        *authority
	listener  net.Listener
	http      *http.Server

	throttleLimits  *Throttle
	latency, jitter time.Duration

	mu        sync.Mutex
	writes    map[string][]time.Time // POST times by tenant and by tenant|client
	throttled int                    // 429s sent for the write limits
	data      *store
	grants    map[string]grant
	issued    []string // access tokens, in the order they were issued
	received  []string // client assertions, in the order they arrived
	faults    []*Fault
	log       []Request
}

type grant struct {
	tenantID, clientID string
	expires            time.Time
}

// Start serves data on a new HTTPS listener.
func Start(data Data, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	st, err := newStore(data)
	if err != nil {
		return nil, err
	}
	ca, err := newAuthority(opts.Now())
	if err != nil {
		return nil, fmt.Errorf("creating the test CA: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}

	s := &Server{
		URL:            "https://" + ln.Addr().String(),
		now:            opts.Now,
		accessLog:      opts.AccessLog,
		throttleLimits: opts.Throttle,
		latency:        opts.Latency,
		jitter:         opts.Jitter,
		writes:         map[string][]time.Time{},
		ca:             ca,
		listener:       ln,
		data:           st,
		grants:         map[string]grant{},
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = s.http.ServeTLS(ln, "", "") }()
	return s, nil
}

// Close stops the server and drops open connections.
func (s *Server) Close() error {
	return s.http.Close()
}

// CAPEM is the PEM certificate of the CA that signed the server's certificate.
func (s *Server) CAPEM() []byte { return s.ca.caPEM }

// CertPool trusts the server's CA.
func (s *Server) CertPool() *x509.CertPool { return s.ca.pool }

// WriteCAFile writes the CA certificate to path, for SSL_CERT_FILE.
func (s *Server) WriteCAFile(path string) error {
	return os.WriteFile(path, s.ca.caPEM, 0o644)
}

// Inject adds a fault. Faults are tried in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// AccessTokens returns a copy of the access tokens issued so far, for tests
// that check no token leaks into logs or status.
func (s *Server) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// ClientAssertions returns a copy of the client assertions token requests
// carried so far, accepted or not, for tests that check none leaks.
func (s *Server) ClientAssertions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// receiveAssertion keeps a token request's client assertion, if it has one.
func (s *Server) receiveAssertion(assertion string) {
	if assertion == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, assertion)
}

// Count returns how many logged requests had the op and, if tokenID is not
// empty, the token ID.
func (s *Server) Count(op Op, tokenID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Op == op && (tokenID == "" || r.TokenID == tokenID) {
			n++
		}
	}
	return n
}

// takeFault returns the first fault matching the request, counting it.
func (s *Server) takeFault(op Op, tokenID string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Op != "" && f.Op != op) || (f.TokenID != "" && f.TokenID != tokenID) {
			continue
		}
		hit := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// record appends to the request log.
func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r)
	if s.accessLog != nil {
		credential := ""
		if r.Credential != "" {
			credential = " credential=" + r.Credential
		}
		fmt.Fprintf(s.accessLog, "%s %-13s %s %s %d tenant=%s client=%s request-id=%s%s\n",
			r.Time.UTC().Format(time.RFC3339), r.Op, r.Method, r.Path, r.Status, r.TenantID, r.ClientID,
			r.RequestID, credential)
	}
}

// applyFault answers the request as the fault says. It reports whether the
// fault took the request over; a fault with only a Delay lets it go on.
func (s *Server) applyFault(ctx context.Context, w http.ResponseWriter, f *Fault, entry *Request, body func(status int) string) bool {
	if f.Delay > 0 && !sleep(ctx, f.Delay) {
		entry.Status = 0
		return true
	}
	if f.Reset {
		entry.Status = 0
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	b := f.Body
	if b == "" {
		b = body(f.Status)
	}
	if b != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	entry.Status = f.Status
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, b)
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newGUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

var errNotFound = errors.New("not found")
