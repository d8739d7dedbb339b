// Package pacing spaces out the operator's Graph writes per app registration
// in each tenant, so that many tokens of one tenant stay under Intune's
// throttling limit without holding up the tokens of other tenants.
package pacing

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Intune's documented write limit: 100 requests in 20 seconds per app per
// tenant.
const (
	DefaultLimit  = 100
	DefaultWindow = 20 * time.Second
)

// Pacer holds a token bucket per (cloud, tenant, client). A bucket holds a single write and
// refills at limit-1 per window: writes go out evenly at nearly the full rate,
// and no span of one window ever holds more than limit of them, however
// Intune lays its window. (A bucket as deep as the limit would let twice the
// limit through in the first window.)
//
// Intune also limits a tenant as a whole, to 200 writes per 20 seconds: with
// more than two apps syncing one tenant at full rate, that limit can still
// answer 429, and the operator's backoff applies.
// TODO: pace per tenant too; two buckets per write need a joint schedule, or
// the writes of one can bunch up under the other's limit.
// TODO: let an app with fewer waiting writes than the limit write at once.
// Even pacing spaces a tenant of 50 tokens over 10 seconds, and each token it
// holds back costs a second reconcile and its reads (the README's Benchmark).
// A sliding window would have to count writes when they leave, not when they
// were booked, or late writes would crowd the next window past the limit.
//
// A write that must wait keeps its place: the caller comes back when told and
// goes ahead then, so waiting writes go in the order they asked, each asking
// once, instead of all retrying for the next free place.
type Pacer struct {
	limit  int
	window time.Duration

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	held      map[string]time.Time // a waiting holder's place
	lastPrune time.Time
}

// New returns a Pacer allowing limit writes per window for each app in a tenant.
func New(limit int, window time.Duration) *Pacer {
	return &Pacer{limit: limit, window: window, buckets: map[string]*rate.Limiter{}, held: map[string]time.Time{}}
}

// App identifies an app registration in a cloud's tenant.
type App struct {
	Cloud, TenantID, ClientID string
}

// Wait claims a write for the app on behalf of holder (a token's key) at now.
// Zero means go ahead. Otherwise the holder has a place and should come back
// after the returned wait, when Wait returns zero for it.
func (p *Pacer) Wait(app App, holder string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.held[holder]; ok {
		if now.Before(at) {
			return at.Sub(now)
		}
		delete(p.held, holder)
		return 0
	}

	key := strings.Join([]string{app.Cloud, strings.ToLower(app.TenantID), strings.ToLower(app.ClientID)}, "|")
	d := p.reserve(key, now)
	if d == 0 {
		return 0
	}
	p.held[holder] = now.Add(d)
	p.prune(now)
	return d
}

// reserve takes the next place in an app's bucket and returns how long until it.
func (p *Pacer) reserve(key string, now time.Time) time.Duration {
	b, ok := p.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(float64(max(p.limit-1, 1))/p.window.Seconds()), 1)
		p.buckets[key] = b
	}
	return b.ReserveN(now, 1).DelayFrom(now)
}

// prune forgets places whose holders never came back, such as deleted tokens,
// once a window.
func (p *Pacer) prune(now time.Time) {
	if now.Sub(p.lastPrune) < p.window {
		return
	}
	p.lastPrune = now
	for h, at := range p.held {
		if now.Sub(at) > p.window {
			delete(p.held, h)
		}
	}
}
