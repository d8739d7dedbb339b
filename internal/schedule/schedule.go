// Package schedule holds the operator's timing rules: when a token's sync is
// due, how long to back off after a failure, how often to look at a sync that
// Intune is still running, and when to warn about expiry. Each rule is a pure
// function of the token's recorded state and the current time, so a restarted
// manager reaches the same decisions as the one before it.
package schedule

import "time"

// The retry policy, in one place.
//
//   - Backoff: after the n-th consecutive failure the next attempt waits
//     BackoffBase × 2^(n-1), capped at BackoffCap (30s, 1m, 2m, 4m ... 1h),
//     lengthened by a random BackoffJitter of up to 10% and never past the cap.
//     A Retry-After from the server can only lengthen the wait, and is clamped
//     to BackoffCap too. A token that keeps failing therefore costs at most
//     seven Graph calls in its first hour and one an hour after that.
//   - Polling: syncLicenses starts an asynchronous sync. While Intune reports
//     it inProgress the token is read again after PollFirst, doubling up to
//     PollCap, at most MaxPolls times; a sync still running then counts as
//     failed.
//   - Spread: after a success the next sync is one interval later plus a
//     random IntervalJitter of up to 10% of the interval, so tokens created
//     together drift apart.
const (
	BackoffBase    = 30 * time.Second
	BackoffCap     = time.Hour
	BackoffJitter  = 0.10
	PollFirst      = 15 * time.Second
	PollCap        = 2 * time.Minute
	MaxPolls       = 8
	IntervalJitter = 0.10
)

// State is what the schedule needs to know about a token.
type State struct {
	Generation         int64
	ObservedGeneration int64
	Interval           time.Duration
	// LastAttempt is when a sync was last tried; nil if never.
	LastAttempt *time.Time
	// NextSync is the recorded time of the next action, if any: the next
	// sync after a success, the end of a backoff, or the next poll.
	NextSync *time.Time
	// Failing says the last attempt failed.
	Failing bool
	// InProgress says Intune was still syncing at the last look.
	InProgress bool
	// CredentialsChanged says the credentials differ from those the last
	// attempt used.
	CredentialsChanged bool
	// SyncRequested says a user asked for a sync that has not been made.
	SyncRequested bool
}

// Action is what a due token needs.
type Action int

const (
	// Wait: nothing is due.
	Wait Action = iota
	// Sync: call syncLicenses.
	Sync
	// Poll: read the token, to see whether Intune's sync has finished.
	Poll
)

// Decision is the outcome of Due.
type Decision struct {
	Action Action
	// Why names the rule that made the action due, for logs.
	Why string
	// Wait is how long until the next action, when Action is Wait.
	Wait time.Duration
}

// Due decides what a token needs now. A sync is due when any of:
//
//  1. it was never tried;
//  2. metadata.generation moved past status.observedGeneration (the spec changed);
//  3. a user asked for one with the sync-requested-at annotation;
//  4. the last attempt failed and the credentials changed since;
//  5. the recorded next sync time has come, or, without one, the interval has
//     passed since the last attempt.
//
// While Intune is still syncing, rule 5 makes a poll due instead of a sync.
// Otherwise it reports how long to wait; nothing else makes a Graph call.
func Due(now time.Time, s State) Decision {
	switch {
	case s.LastAttempt == nil:
		return Decision{Action: Sync, Why: "never synced"}
	case s.Generation > s.ObservedGeneration:
		return Decision{Action: Sync, Why: "spec changed"}
	case s.SyncRequested:
		return Decision{Action: Sync, Why: "sync requested"}
	case s.Failing && s.CredentialsChanged:
		return Decision{Action: Sync, Why: "credentials changed"}
	}

	next := s.LastAttempt.Add(s.Interval)
	if s.NextSync != nil {
		next = *s.NextSync
	}
	if now.Before(next) {
		return Decision{Action: Wait, Wait: next.Sub(now)}
	}
	if s.InProgress {
		return Decision{Action: Poll, Why: "sync in progress"}
	}
	return Decision{Action: Sync, Why: "interval elapsed"}
}

// Backoff is the wait after the given number of consecutive failures (at least
// one), lengthened by jitter (in [0, 1), a fraction of BackoffJitter) and to
// retryAfter when the server asked for more.
func Backoff(failures int32, retryAfter time.Duration, jitter float64) time.Duration {
	d := BackoffBase
	for n := int32(1); n < failures && d < BackoffCap; n++ {
		d *= 2
	}
	d += time.Duration(float64(d) * BackoffJitter * clampUnit(jitter))
	return min(max(d, retryAfter), BackoffCap)
}

// NextSync is the wait after a success: the interval, lengthened by jitter (in
// [0, 1), a fraction of IntervalJitter).
func NextSync(interval time.Duration, jitter float64) time.Duration {
	return interval + time.Duration(float64(interval)*IntervalJitter*clampUnit(jitter))
}

// PollDelay is the wait before the n-th look (from zero) at a sync in progress.
func PollDelay(n int32) time.Duration {
	d := PollFirst
	for i := int32(0); i < n && d < PollCap; i++ {
		d *= 2
	}
	return min(d, PollCap)
}

func clampUnit(f float64) float64 {
	return min(max(f, 0), 1)
}
