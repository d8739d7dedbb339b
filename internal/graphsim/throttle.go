package graphsim

import (
	"fmt"
	"net/http"
	"time"
)

// Throttle is Intune's documented write limit for the endpoints that cover
// vppTokens: so many POSTs per window per app per tenant, and per tenant.
type Throttle struct {
	PerApp    int
	PerTenant int
	Window    time.Duration
	// OmitRetryAfter leaves the Retry-After header out of every other 429, as
	// Intune often does.
	OmitRetryAfter bool
}

// IntuneWriteLimits are the documented limits: 100 writes per 20 seconds per
// app per tenant, 200 per tenant.
var IntuneWriteLimits = Throttle{PerApp: 100, PerTenant: 200, Window: 20 * time.Second, OmitRetryAfter: true}

// throttle counts a POST against the limits. Over a limit, it returns 429 and
// the Retry-After to send (maybe none); else zero. The caller holds s.mu.
func (s *Server) throttle(g grant, now time.Time) (status int, retryAfter string) {
	t := s.throttleLimits
	if t == nil {
		return 0, ""
	}
	appKey := g.tenantID + "|" + g.clientID
	wait := max(s.windowWait(appKey, t.PerApp, t.Window, now), s.windowWait(g.tenantID, t.PerTenant, t.Window, now))
	if wait > 0 {
		s.throttled++
		if t.OmitRetryAfter && s.throttled%2 == 0 {
			return http.StatusTooManyRequests, ""
		}
		return http.StatusTooManyRequests, fmt.Sprint(int((wait + time.Second - 1) / time.Second))
	}
	s.writes[appKey] = append(s.writes[appKey], now)
	s.writes[g.tenantID] = append(s.writes[g.tenantID], now)
	return 0, ""
}

// windowWait drops the writes of key older than the window and returns how
// long until another fits under limit; zero when one fits now.
func (s *Server) windowWait(key string, limit int, window time.Duration, now time.Time) time.Duration {
	if limit <= 0 {
		return 0
	}
	kept := s.writes[key][:0]
	for _, at := range s.writes[key] {
		if now.Sub(at) < window {
			kept = append(kept, at)
		}
	}
	s.writes[key] = kept
	if len(kept) < limit {
		return 0
	}
	return window - now.Sub(kept[len(kept)-limit])
}
