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
			Decision{Due: true, Why: "never synced"}),
		Entry("a changed spec is due", func(s *State) { s.Generation = 4 },
			Decision{Due: true, Why: "spec changed"}),
		Entry("a healthy token waits for the rest of its interval", func(*State) {},
			Decision{Wait: 11 * time.Hour}),
		Entry("a healthy token with new credentials still waits", func(s *State) { s.CredentialsChanged = true },
			Decision{Wait: 11 * time.Hour}),
		Entry("the interval counts from the last attempt without a recorded next sync",
			func(s *State) { s.NextSync = nil; s.LastAttempt = at(-12 * time.Hour) },
			Decision{Due: true, Why: "interval elapsed"}),
		Entry("a failing token waits for its backoff", func(s *State) { s.Failing = true; s.NextSync = at(30 * time.Second) },
			Decision{Wait: 30 * time.Second}),
		Entry("a failing token is due when its backoff ends", func(s *State) { s.Failing = true; s.NextSync = at(0) },
			Decision{Due: true, Why: "interval elapsed"}),
		Entry("a failing token whose Secret changed is due at once",
			func(s *State) { s.Failing = true; s.NextSync = at(time.Hour); s.CredentialsChanged = true },
			Decision{Due: true, Why: "credentials changed"}),
		Entry("a shortened interval applies to the recorded schedule",
			func(s *State) { s.Interval = 30 * time.Minute },
			Decision{Due: true, Why: "interval elapsed"}),
	)
})

var _ = Describe("Backoff", func() {
	DescribeTable("doubles from 30s up to an hour; Retry-After only lengthens it, to an hour at most",
		func(failures int32, retryAfter, want time.Duration) {
			Expect(Backoff(failures, retryAfter)).To(Equal(want))
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

	It("costs a permanently failing token at most 8 attempts in its first hour", func() {
		attempts, elapsed := 1, time.Duration(0)
		for n := int32(1); ; n++ {
			elapsed += Backoff(n, 0)
			if elapsed > time.Hour {
				break
			}
			attempts++
		}
		Expect(attempts).To(Equal(7), "the policy comment promises seven")
		Expect(Backoff(100, 0)).To(Equal(time.Hour), "and one an hour after that")
	})
})
