// Package pacing spaces out the operator's Graph writes per app registration,
// so that many tokens of one tenant stay under Intune's throttling limits
// without holding up the tokens of other tenants.
package pacing

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Intune's documented write limit per app per tenant: 100 requests in 20 seconds.
const (
	DefaultLimit  = 100
	DefaultWindow = 20 * time.Second
)

// Pacer holds one token bucket per (cloud, tenant, client). A bucket holds a
// single write and refills at limit-1 per window: writes go out evenly at
// nearly the full rate, and no span of one window ever holds more than limit
// of them, however Intune lays its window. (A bucket as deep as the limit
// would let twice the limit through in the first window.)
type Pacer struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a Pacer allowing limit writes per window for each app.
func New(limit int, window time.Duration) *Pacer {
	return &Pacer{limit: limit, window: window, buckets: map[string]*rate.Limiter{}}
}

// Key identifies an app registration in a cloud's tenant.
func Key(cloud, tenantID, clientID string) string {
	return strings.Join([]string{cloud, strings.ToLower(tenantID), strings.ToLower(clientID)}, "|")
}

// Take claims a write for key at now. It returns zero when the write may go
// ahead; otherwise how long to wait, and claims nothing, so the caller can
// requeue instead of holding a worker.
func (p *Pacer) Take(key string, now time.Time) time.Duration {
	r := p.bucket(key).ReserveN(now, 1)
	if !r.OK() {
		return p.window
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

func (p *Pacer) bucket(key string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(float64(max(p.limit-1, 1))/p.window.Seconds()), 1)
		p.buckets[key] = b
	}
	return b
}
