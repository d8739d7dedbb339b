package schedule

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Due", func() {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	synced := func() State {
		return State{Generation: 3, ObservedGeneration: 3, Interval: 12 * time.Hour, LastAttempt: at(-time.Hour),
			NextSync: at(11 * time.Hour)}
	}

	DescribeTable("decides from the recorded state alone",
		func(mutate func(*State), want Decision) {
			s := synced()
			mutate(&s)
			Expect(Due(now, s)).To(Equal(want))
		},
		Entry("a token never tried is due", func(s *State) { s.LastAttempt, s.NextSync = nil, nil },
			Decision{Action: Sync, Why: "never synced"}),
		Entry("a changed spec is due", func(s *State) { s.Generation = 4 },
			Decision{Action: Sync, Why: "spec changed"}),
		Entry("a requested sync is due", func(s *State) { s.SyncRequested = true },
			Decision{Action: Sync, Why: "sync requested"}),
		Entry("a healthy token waits for its recorded next sync", func(*State) {},
			Decision{Action: Wait, Wait: 11 * time.Hour}),
		Entry("the recorded next sync, spread past the interval, is kept",
			func(s *State) { s.NextSync = at(11*time.Hour + 30*time.Minute) },
			Decision{Action: Wait, Wait: 11*time.Hour + 30*time.Minute}),
		Entry("a healthy token with new credentials still waits", func(s *State) { s.CredentialsChanged = true },
			Decision{Action: Wait, Wait: 11 * time.Hour}),
		Entry("the interval counts from the last attempt without a recorded next sync",
			func(s *State) { s.NextSync = nil; s.LastAttempt = at(-12 * time.Hour) },
			Decision{Action: Sync, Why: "interval elapsed"}),
		Entry("a failing token waits for its backoff", func(s *State) { s.Failing = true; s.NextSync = at(30 * time.Second) },
			Decision{Action: Wait, Wait: 30 * time.Second}),
		Entry("a failing token is due when its backoff ends", func(s *State) { s.Failing = true; s.NextSync = at(0) },
			Decision{Action: Sync, Why: "interval elapsed"}),
		Entry("a failing token whose Secret changed is due at once",
			func(s *State) { s.Failing = true; s.NextSync = at(time.Hour); s.CredentialsChanged = true },
			Decision{Action: Sync, Why: "credentials changed"}),
		Entry("a sync in progress waits for its next poll",
			func(s *State) { s.InProgress = true; s.NextSync = at(15 * time.Second) },
			Decision{Action: Wait, Wait: 15 * time.Second}),
		Entry("a sync in progress is polled, not synced again",
			func(s *State) { s.InProgress = true; s.NextSync = at(-time.Second) },
			Decision{Action: Poll, Why: "sync in progress"}),
		Entry("a spec change during a sync in progress syncs again",
			func(s *State) { s.InProgress = true; s.Generation = 4 },
			Decision{Action: Sync, Why: "spec changed"}),
	)
})

var _ = Describe("Backoff", func() {
	DescribeTable("doubles from 30s up to an hour; Retry-After only lengthens it, to an hour at most",
		func(failures int32, retryAfter, want time.Duration) {
			Expect(Backoff(failures, retryAfter, 0)).To(Equal(want))
		},
		Entry("first failure", int32(1), time.Duration(0), 30*time.Second),
		Entry("second failure", int32(2), time.Duration(0), time.Minute),
		Entry("seventh failure", int32(7), time.Duration(0), 32*time.Minute),
		Entry("eighth failure reaches the cap", int32(8), time.Duration(0), time.Hour),
		Entry("a long run stays at the cap", int32(1000), time.Duration(0), time.Hour),
		Entry("a count of zero is read as one", int32(0), time.Duration(0), 30*time.Second),
		Entry("Retry-After longer than the backoff wins", int32(1), 2*time.Minute, 2*time.Minute),
		Entry("Retry-After shorter than the backoff is ignored", int32(4), 10*time.Second, 4*time.Minute),
		Entry("Retry-After is clamped to an hour", int32(1), 5*time.Hour, time.Hour),
	)

	DescribeTable("costs a permanently failing token seven attempts in its first hour, whatever the jitter",
		func(jitter float64) {
			attempts, elapsed := 1, time.Duration(0)
			for n := int32(1); ; n++ {
				elapsed += Backoff(n, 0, jitter)
				if elapsed > time.Hour {
					break
				}
				attempts++
			}
			Expect(attempts).To(Equal(7), "the policy comment promises seven")
			Expect(Backoff(100, 0, jitter)).To(Equal(time.Hour), "and one an hour after that")
		},
		Entry("no jitter", 0.0),
		Entry("the most jitter", 0.999),
	)

	DescribeTable("adds up to 10% of jitter",
		func(failures int32, jitter float64, want time.Duration) {
			Expect(Backoff(failures, 0, jitter)).To(Equal(want))
		},
		Entry("half of it", int32(1), 0.5, 31500*time.Millisecond),
		Entry("nearly all of it", int32(3), 0.99, 2*time.Minute+11880*time.Millisecond),
		Entry("none past the cap", int32(8), 0.99, time.Hour),
		Entry("out-of-range jitter is clamped", int32(1), 7.0, 33*time.Second),
	)
})

var _ = Describe("NextSync", func() {
	It("spreads the next sync over up to 10% past the interval", func() {
		Expect(NextSync(12*time.Hour, 0)).To(Equal(12 * time.Hour))
		Expect(NextSync(12*time.Hour, 0.5)).To(Equal(12*time.Hour + 36*time.Minute))
		Expect(NextSync(12*time.Hour, -1)).To(Equal(12 * time.Hour))
	})
})

var _ = Describe("PollDelay", func() {
	It("starts at 15s and doubles to two minutes", func() {
		var got []time.Duration
		for n := int32(0); n < MaxPolls; n++ {
			got = append(got, PollDelay(n))
		}
		Expect(got).To(Equal([]time.Duration{15 * time.Second, 30 * time.Second, time.Minute,
			2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute}))
	})
})

var _ = Describe("CheckExpiry", func() {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	window := 30 * 24 * time.Hour
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }

	DescribeTable("counts UTC days and warns once a day within the window",
		func(expires time.Time, lastWarning *time.Time, want Expiry) {
			Expect(CheckExpiry(now, expires, window, lastWarning)).To(Equal(want))
		},
		Entry("far off", now.Add(90*24*time.Hour), nil, Expiry{DaysLeft: 90}),
		Entry("just inside the window", now.Add(30*24*time.Hour), nil, Expiry{Expiring: true, DaysLeft: 30, Warn: true}),
		Entry("tomorrow by UTC date, two hours away", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), nil,
			Expiry{Expiring: true, DaysLeft: 1, Warn: true}),
		Entry("an offset that is the same UTC day", time.Date(2026, 12, 5, 1, 0, 0, 0, time.FixedZone("+03", 3*3600)), nil,
			Expiry{Expiring: true, DaysLeft: 0, Warn: true}),
		Entry("warned an hour ago", now.Add(10*24*time.Hour), ago(time.Hour), Expiry{Expiring: true, DaysLeft: 10}),
		Entry("warned a day ago", now.Add(10*24*time.Hour), ago(24*time.Hour), Expiry{Expiring: true, DaysLeft: 10, Warn: true}),
		Entry("expired, still warned", now.Add(-3*24*time.Hour), ago(25*time.Hour), Expiry{Expiring: true, DaysLeft: -3, Warn: true}),
		Entry("in year 9999, past what a Duration holds", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), nil,
			Expiry{DaysLeft: 2912105}),
		Entry("in year 1601, before what a Duration holds", time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), ago(time.Hour),
			Expiry{Expiring: true, DaysLeft: -155565}),
	)
})
