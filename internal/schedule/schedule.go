// Package schedule holds the operator's timing rules: when a token's sync is
// due and how long to back off after a failure. Each rule is a pure function
// of the token's recorded state and the current time, so a restarted manager
// reaches the same decisions as the one before it.
package schedule

import "time"

// The retry policy.
//
// After the n-th consecutive failure the next attempt waits
// BackoffBase × 2^(n-1), capped at BackoffCap: 30s, 1m, 2m, 4m, ... 1h. A
// Retry-After from the server can only lengthen the wait, and is clamped to
// BackoffCap too. A token that keeps failing therefore costs at most seven
// Graph calls in its first hour and one an hour after that.
const (
	BackoffBase = 30 * time.Second
	BackoffCap  = time.Hour
)

// State is what the schedule needs to know about a token.
type State struct {
	Generation         int64
	ObservedGeneration int64
	Interval           time.Duration
	// LastAttempt is when a sync was last tried; nil if never.
	LastAttempt *time.Time
	// NextSync is the recorded time of the next attempt, if any. After a
	// failure it is the end of the backoff, earlier than LastAttempt+Interval.
	NextSync *time.Time
	// Failing says the last attempt failed.
	Failing bool
	// CredentialsChanged says the credentials Secret is not the one the last
	// attempt used.
	CredentialsChanged bool
}

// Decision is the outcome of Due.
type Decision struct {
	Due bool
	// Why names the rule that made the sync due, for logs.
	Why string
	// Wait is how long until the sync is due, when it is not.
	Wait time.Duration
}

// Due decides whether a token should be synced now. A sync is due when any of:
//
//  1. it was never tried;
//  2. metadata.generation moved past status.observedGeneration (the spec changed);
//  3. the last attempt failed and the credentials Secret changed since;
//  4. the recorded next sync time has come, or, without one, the interval has
//     passed since the last attempt.
//
// Otherwise it reports how long to wait; nothing else makes a Graph call.
func Due(now time.Time, s State) Decision {
	switch {
	case s.LastAttempt == nil:
		return Decision{Due: true, Why: "never synced"}
	case s.Generation > s.ObservedGeneration:
		return Decision{Due: true, Why: "spec changed"}
	case s.Failing && s.CredentialsChanged:
		return Decision{Due: true, Why: "credentials changed"}
	}

	next := s.LastAttempt.Add(s.Interval)
	if s.NextSync != nil && s.NextSync.Before(next) {
		next = *s.NextSync
	}
	if !now.Before(next) {
		return Decision{Due: true, Why: "interval elapsed"}
	}
	return Decision{Wait: next.Sub(now)}
}

// Backoff is the wait after the given number of consecutive failures (at least
// one), lengthened to retryAfter when the server asked for more.
func Backoff(failures int32, retryAfter time.Duration) time.Duration {
	d := BackoffBase
	for n := int32(1); n < failures && d < BackoffCap; n++ {
		d *= 2
	}
	return min(max(d, retryAfter), BackoffCap)
}
