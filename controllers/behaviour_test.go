package controllers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
	"github.com/vpp-operator/vpp-operator/internal/schedule"
)

// Specs of how the operator copes with Graph and Intune as they behave in the
// field: asynchronous syncs, throttling, broken tokens, many tokens, several
// replicas.

func (w *world) gets(tokenID string) func() int {
	return func() int { return w.sim.Count(graphsim.OpGetVppToken, tokenID) }
}

// stepToNext moves the fake clock to the token's next planned action and
// pokes it.
func (w *world) stepToNext(name string) {
	GinkgoHelper()
	t := w.get(name)
	Expect(t.Status.NextSyncTime).NotTo(BeNil())
	if d := t.Status.NextSyncTime.Sub(w.clock.Now()); d > 0 {
		w.clock.Step(d)
	}
	w.poke(name)
}

var _ = Describe("An asynchronous sync", func() {
	It("is polled on a growing delay until Intune finishes it", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.SyncPolls = 2 // two looks still find it running
		w := newWorld(tok)

		w.createToken("async", id)
		t := w.waitForReason("async", intunev1alpha1.ReasonSyncInProgress)
		posted := t.Status.LastSyncAttemptTime.Time
		Expect(t.Status.LastSyncStatus).To(Equal("inProgress"))
		Expect(condition(t, intunev1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionUnknown))
		Expect(t.Status.NextSyncTime.Sub(posted)).To(Equal(15 * time.Second))

		By("making no call before the poll is due")
		w.clock.Step(14 * time.Second)
		w.poke("async")
		Consistently(w.gets(id), quiet).Should(BeZero())

		By("looking after 15s, then 30s later, then a minute later")
		for i, wantDelay := range []time.Duration{30 * time.Second, time.Minute} {
			w.stepToNext("async")
			Eventually(w.gets(id)).Should(Equal(i + 1))
			Eventually(func() int32 { return w.get("async").Status.SyncPolls }).Should(Equal(int32(i + 1)))
			t = w.get("async")
			Expect(t.Status.NextSyncTime.Sub(w.clock.Now())).To(BeNumerically("~", wantDelay, time.Second))
		}
		w.stepToNext("async")
		t = w.waitForReason("async", intunev1alpha1.ReasonSynced)

		Expect(t.Status.LastSyncStatus).To(Equal("completed"))
		Expect(w.posts(id)()).To(Equal(1), "polling never syncs again")
		Expect(w.gets(id)()).To(Equal(3))
		Expect(t.Status.LastSyncAttemptTime.Time).To(Equal(posted))
		Expect(t.Status.NextSyncTime.Sub(posted)).To(Equal(12 * time.Hour))
		Expect(t.Status.SyncPolls).To(BeZero())
	})

	It("that fails is retried with backoff, not after the whole interval", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.SyncPolls, tok.SyncResult = 1, "failed"
		w := newWorld(tok)

		w.createToken("fails", id)
		w.waitForReason("fails", intunev1alpha1.ReasonSyncInProgress)
		w.stepToNext("fails")
		Eventually(w.gets(id)).Should(Equal(1))
		Eventually(func() int32 { return w.get("fails").Status.SyncPolls }).Should(Equal(int32(1)))
		w.stepToNext("fails")
		t := w.waitForReason("fails", intunev1alpha1.ReasonSyncFailed)
		Expect(t.Status.LastSyncStatus).To(Equal("failed"))
		Expect(t.Status.NextSyncTime.Sub(w.clock.Now())).To(Equal(schedule.BackoffBase))

		By("syncing again once the backoff has passed")
		Expect(w.sim.SetTokenProperty(id, "lastSyncStatus", "completed")).To(Succeed())
		w.stepToNext("fails")
		Eventually(w.posts(id)).Should(Equal(2))
	})

	It("whose check fails is checked again, not synced again", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.SyncPolls = 1
		w := newWorld(tok)
		w.createToken("flaky", id)
		w.waitForReason("flaky", intunev1alpha1.ReasonSyncInProgress)

		w.sim.Inject(graphsim.Fault{Op: graphsim.OpGetVppToken, Status: http.StatusInternalServerError, Times: 1})
		w.stepToNext("flaky")
		Eventually(func() int32 { return w.get("flaky").Status.ConsecutiveFailures }).Should(Equal(int32(1)))
		t := w.get("flaky")
		Expect(condition(t, intunev1alpha1.ConditionSynced).Reason).To(Equal(intunev1alpha1.ReasonSyncInProgress))
		Expect(condition(t, intunev1alpha1.ConditionSynced).Message).To(ContainSubstring("the last check failed"))

		w.stepToNext("flaky")
		Eventually(w.gets(id)).Should(Equal(2))
		Eventually(func() int32 { return w.get("flaky").Status.SyncPolls }).Should(Equal(int32(2)))
		w.stepToNext("flaky")
		w.waitForReason("flaky", intunev1alpha1.ReasonSynced)
		Expect(w.posts(id)()).To(Equal(1))
	})

	It("is no longer followed once the token is suspended", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.SyncPolls = 5
		w := newWorld(tok)
		w.createToken("paused", id)
		w.waitForReason("paused", intunev1alpha1.ReasonSyncInProgress)

		w.update("paused", func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = true })
		t := w.waitForReason("paused", intunev1alpha1.ReasonSuspended)
		Expect(condition(t, intunev1alpha1.ConditionSynced).Reason).To(Equal(intunev1alpha1.ReasonSuspended))
		Expect(t.Status.NextSyncTime).To(BeNil())
		w.clock.Step(time.Hour)
		w.poke("paused")
		Consistently(w.gets(id), quiet).Should(BeZero())
	})

	It("that never finishes counts as failed after a bounded number of looks", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.SyncPolls = 1000
		w := newWorld(tok)

		w.createToken("stuck", id)
		w.waitForReason("stuck", intunev1alpha1.ReasonSyncInProgress)
		for i := 1; i <= schedule.MaxPolls; i++ {
			w.stepToNext("stuck")
			Eventually(w.gets(id)).Should(Equal(i))
			if i < schedule.MaxPolls {
				Eventually(func() int32 { return w.get("stuck").Status.SyncPolls }).Should(Equal(int32(i)))
			}
		}
		t := w.waitForReason("stuck", intunev1alpha1.ReasonSyncFailed)
		Expect(condition(t, intunev1alpha1.ConditionSynced).Message).To(ContainSubstring("still syncing"))
		Consistently(w.gets(id), quiet).Should(Equal(schedule.MaxPolls))
		Expect(w.posts(id)()).To(Equal(1))
	})
})

var _ = Describe("Throttling", func() {
	DescribeTable("honours Retry-After, only ever slowing a token down, up to an hour",
		func(op graphsim.Op, retryAfter func() string, want time.Duration) {
			id := newTokenID()
			w := newWorld(validToken(id))
			w.sim.Inject(graphsim.Fault{Op: op, Status: http.StatusTooManyRequests, RetryAfter: retryAfter()})
			w.createToken("slow", id)
			t := w.waitForReason("slow", intunev1alpha1.ReasonThrottled)
			// An HTTP date has whole seconds, read against the real clock.
			Expect(t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)).To(BeNumerically("~", want, 5*time.Second))
		},
		Entry("without Retry-After, as Intune often sends it: the default backoff",
			graphsim.OpSyncLicenses, func() string { return "" }, schedule.BackoffBase),
		Entry("with a Retry-After shorter than the backoff: the backoff",
			graphsim.OpSyncLicenses, func() string { return "5" }, schedule.BackoffBase),
		Entry("with Retry-After as an HTTP date",
			graphsim.OpSyncLicenses, func() string { return time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat) },
			10*time.Minute),
		Entry("with a Retry-After of two hours: clamped to one",
			graphsim.OpSyncLicenses, func() string { return "7200" }, schedule.BackoffCap),
		Entry("from the identity platform",
			graphsim.OpToken, func() string { return "600" }, 10*time.Minute),
	)

	It("shows Intune's human message and the request-id, not its JSON", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusGatewayTimeout})
		w.createToken("gateway", id)
		t := w.waitForReason("gateway", intunev1alpha1.ReasonGraphUnavailable)
		msg := condition(t, intunev1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("Graph answered 504"))
		Expect(msg).To(ContainSubstring("Gateway Timeout"))
		Expect(msg).To(MatchRegexp(`\(request-id [0-9a-f-]{36}\)$`))
		Expect(msg).NotTo(Or(ContainSubstring("{"), ContainSubstring("Operation ID")))
	})
})

var _ = Describe("A broken token", func() {
	It("costs at most 8 calls in its first hour and one an hour after that", func() {
		w := newWorld()
		w.createToken("gone", newTokenID()) // not in the tenant: 404 every time
		w.waitForReason("gone", intunev1alpha1.ReasonTokenNotFound)
		start := w.get("gone").Status.LastSyncAttemptTime.Time

		calls := func() int { return w.sim.Count(graphsim.OpSyncLicenses, "") }
		inFirstHour := 0
		for i := 0; i < 20; i++ {
			before := w.get("gone").Status.ConsecutiveFailures
			w.stepToNext("gone")
			Eventually(func() int32 { return w.get("gone").Status.ConsecutiveFailures }).Should(Equal(before + 1))
			t := w.get("gone").Status.LastSyncAttemptTime.Time
			if t.Sub(start) <= time.Hour {
				inFirstHour = calls()
			}
			if t.Sub(start) > 3*time.Hour {
				break
			}
		}
		Expect(inFirstHour).To(BeNumerically("<=", 8))

		t := w.get("gone")
		Expect(t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)).To(Equal(time.Hour))

		By("retrying at once when the spec changes")
		before := calls()
		w.update("gone", func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 24 * time.Hour}
		})
		Eventually(calls).Should(Equal(before + 1))
	})
})

var _ = Describe("Pacing", func() {
	It("keeps a mass create in one tenant under Intune's write limit, without holding up other tenants", func() {
		var tokens []graphsim.VppToken
		var ids []string
		for range 15 {
			id := newTokenID()
			ids = append(ids, id)
			tokens = append(tokens, validToken(id))
		}
		otherID := newTokenID()
		w := newWorldWith(worldOptions{
			tokens:      tokens,
			otherTokens: []graphsim.VppToken{validToken(otherID)},
			// Intune's limits scaled down: 5 writes per 2s per app.
			throttle: &graphsim.Throttle{PerApp: 5, PerTenant: 10, Window: 2 * time.Second},
			pacer:    pacing.New(5, 2*time.Second),
		})

		for i, id := range ids {
			w.createToken(fmt.Sprintf("mass-%02d", i), id)
		}
		w.createToken("other-tenant", otherID, func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.Name = otherSecretName
		})

		By("syncing the other tenant's token while the first tenant's queue drains")
		w.waitForReason("other-tenant", intunev1alpha1.ReasonSynced)
		Expect(w.sim.Count(graphsim.OpSyncLicenses, "")).To(BeNumerically("<", len(ids)+1),
			"some of the first tenant's tokens are still waiting their turn")

		for i := range ids {
			w.waitForReason(fmt.Sprintf("mass-%02d", i), intunev1alpha1.ReasonSynced)
		}
		throttled := 0
		for _, r := range w.sim.Requests() {
			if r.Status == http.StatusTooManyRequests {
				throttled++
			}
		}
		Expect(throttled).To(BeZero())
		Expect(w.sim.Count(graphsim.OpSyncLicenses, "")).To(Equal(len(ids) + 1))
		Expect(strings.Count(w.logs.String(), `"paced"`)).To(BeNumerically("<=", len(ids)),
			"a waiting token keeps its place and asks once, instead of all retrying for the next")
	})
})

var _ = Describe("The schedule", func() {
	It("spreads the next sync by up to 10% of the interval", func() {
		id := newTokenID()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)}, jitter: 0.5})
		w.createToken("spread", id)
		t := w.waitForReason("spread", intunev1alpha1.ReasonSynced)
		Expect(t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)).To(Equal(12*time.Hour + 36*time.Minute))

		By("keeping the recorded time, not the bare interval")
		w.clock.Step(12*time.Hour + time.Minute)
		w.poke("spread")
		Consistently(w.posts(id), quiet).Should(Equal(1))
	})

	It("makes one sync per new sync-requested-at value", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("forced", id)
		w.waitForReason("forced", intunev1alpha1.ReasonSynced)

		request := func(value string) {
			w.update("forced", func(t *intunev1alpha1.VppToken) {
				t.Annotations = map[string]string{intunev1alpha1.SyncRequestedAtAnnotation: value}
			})
		}
		request("2026-12-04T10:00:00Z")
		Eventually(w.posts(id)).Should(Equal(2))
		Eventually(func() string { return w.get("forced").Status.LastHandledSyncRequest }).Should(
			Equal("2026-12-04T10:00:00Z"))

		w.poke("forced")
		Consistently(w.posts(id), quiet).Should(Equal(2), "the same value asks for nothing more")

		request("again")
		Eventually(w.posts(id)).Should(Equal(3))

		By("keeping a long value as its hash, so that it asks once too")
		request(strings.Repeat("x", 4096))
		Eventually(w.posts(id)).Should(Equal(4))
		Eventually(func() string { return w.get("forced").Status.LastHandledSyncRequest }).Should(HavePrefix("sha256:"))
		w.poke("forced")
		Consistently(w.posts(id), quiet).Should(Equal(4))
	})
})

var _ = Describe("Token states", func() {
	DescribeTable("other than valid make Ready False with advice, and no faster syncing",
		func(state, reason string) {
			id := newTokenID()
			tok := validToken(id)
			tok.Properties["state"] = state
			w := newWorld(tok)
			w.createToken("state", id)
			t := w.waitForReason("state", reason)
			Expect(t.Status.State).To(Equal(state))
			Expect(condition(t, intunev1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionTrue))
			Expect(t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)).To(Equal(12 * time.Hour))
		},
		Entry("expired", "expired", intunev1alpha1.ReasonTokenExpired),
		Entry("invalid", "invalid", intunev1alpha1.ReasonTokenInvalid),
		Entry("held by another MDM", "assignedToExternalMDM", intunev1alpha1.ReasonAssignedToExternalMDM),
		Entry("a duplicate location (beta)", "duplicateLocationId", intunev1alpha1.ReasonDuplicateLocation),
		Entry("Graph's own unknown", "unknown", intunev1alpha1.ReasonTokenStateUnknown),
		Entry("a value newer than the operator", "suspendedByApple", intunev1alpha1.ReasonTokenStateUnknown),
	)
})

var _ = Describe("Expiry", func() {
	It("sets Expiring with the days left and warns once a day", func() {
		id := newTokenID()
		tok := validToken(id)
		expires := time.Now().UTC().Add(10*24*time.Hour + time.Hour)
		tok.Properties["expirationDateTime"] = expires.Format(time.RFC3339)
		w := newWorld(tok)
		w.createToken("expiring", id, func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 72 * time.Hour}
		})
		t := w.waitForReason("expiring", intunev1alpha1.ReasonSynced)

		exp := condition(t, intunev1alpha1.ConditionExpiring)
		Expect(exp.Status).To(Equal(metav1.ConditionTrue))
		Expect(exp.Reason).To(Equal(intunev1alpha1.ReasonExpiresSoon))
		days := schedule.CheckExpiry(w.clock.Now(), expires, DefaultExpiryWarning, nil).DaysLeft
		Expect(exp.Message).To(ContainSubstring(fmt.Sprintf("expires in %d days", days)))
		warnings := func() int {
			n := 0
			for _, e := range w.events("expiring") {
				if strings.HasPrefix(e, "Warning ExpiresSoon:") {
					n++
				}
			}
			return n
		}
		Eventually(warnings).Should(Equal(1))

		By("not warning again within the day")
		w.clock.Step(time.Hour)
		w.poke("expiring")
		Consistently(warnings, quiet).Should(Equal(1))

		By("warning again the next day, without a Graph call")
		w.clock.Step(24 * time.Hour)
		w.poke("expiring")
		Eventually(warnings).Should(Equal(2))
		// 25 hours on is one calendar day less, or two when they cross midnight UTC twice.
		daysNow := schedule.CheckExpiry(w.clock.Now(), expires, DefaultExpiryWarning, nil).DaysLeft
		Expect(daysNow).To(BeNumerically("<", days))
		Expect(condition(w.get("expiring"), intunev1alpha1.ConditionExpiring).Message).To(
			ContainSubstring(fmt.Sprintf("expires in %d days", daysNow)))
		Expect(w.posts(id)()).To(Equal(1))
	})

	It("keeps warning once the token has expired", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["expirationDateTime"] = time.Now().UTC().Add(-50 * time.Hour).Format(time.RFC3339)
		w := newWorld(tok)
		w.createToken("expired", id)
		t := w.waitForReason("expired", intunev1alpha1.ReasonSynced)
		exp := condition(t, intunev1alpha1.ConditionExpiring)
		Expect(exp.Reason).To(Equal(intunev1alpha1.ReasonExpired))
		Expect(exp.Message).To(MatchRegexp(`expired [23] days ago`))
		Eventually(func() []string { return w.events("expired") }).Should(ContainElement(HavePrefix("Warning Expired:")))
	})

	It("drops Expiring when Graph no longer reports an expiry", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["expirationDateTime"] = time.Now().UTC().Add(5 * 24 * time.Hour).Format(time.RFC3339)
		w := newWorld(tok)
		w.createToken("unknown-expiry", id)
		t := w.waitForReason("unknown-expiry", intunev1alpha1.ReasonSynced)
		Expect(condition(t, intunev1alpha1.ConditionExpiring)).NotTo(BeNil())

		Expect(w.sim.SetTokenProperty(id, "expirationDateTime", "0001-01-01T00:00:00Z")).To(Succeed())
		w.stepToNext("unknown-expiry")
		Eventually(func() *metav1.Condition {
			return condition(w.get("unknown-expiry"), intunev1alpha1.ConditionExpiring)
		}).Should(BeNil())
	})

	It("keeps warning daily while the token is suspended", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["expirationDateTime"] = time.Now().UTC().Add(5 * 24 * time.Hour).Format(time.RFC3339)
		w := newWorld(tok)
		w.createToken("quiet", id)
		w.waitForReason("quiet", intunev1alpha1.ReasonSynced)
		w.update("quiet", func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = true })
		w.waitForReason("quiet", intunev1alpha1.ReasonSuspended)

		w.clock.Step(49 * time.Hour)
		w.poke("quiet")
		Eventually(func() string {
			return condition(w.get("quiet"), intunev1alpha1.ConditionExpiring).Message
		}).Should(MatchRegexp(`expires in [23] days`))
		Eventually(func() int { return strings.Count(strings.Join(w.events("quiet"), "\n"), "Warning ExpiresSoon") }).
			Should(Equal(2))
		Expect(w.posts(id)()).To(Equal(1))
	})

	It("reports a far expiry as not expiring", func() {
		id := newTokenID()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)}, expiryWarning: 24 * time.Hour})
		w.createToken("far", id)
		t := w.waitForReason("far", intunev1alpha1.ReasonSynced)
		exp := condition(t, intunev1alpha1.ConditionExpiring)
		Expect(exp.Status).To(Equal(metav1.ConditionFalse))
		Expect(exp.Reason).To(Equal(intunev1alpha1.ReasonNotExpiring))
	})
})

var _ = Describe("Several replicas", func() {
	It("call Graph only from the leader, and hand over without syncing twice", func() {
		id := newTokenID()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)}, noManager: true})
		logsA, logsB := &syncBuffer{}, &syncBuffer{}
		stopA := w.runManager(managerOptions{name: "manager-a", leaderElection: true}, logsA)
		DeferCleanup(stopA)
		// Controllers start only once their manager leads.
		Eventually(logsA.String, 20*time.Second).Should(ContainSubstring("Starting workers"))
		stopB := w.runManager(managerOptions{name: "manager-b", leaderElection: true}, logsB)
		DeferCleanup(stopB)

		w.createToken("ha", id)
		w.waitForReason("ha", intunev1alpha1.ReasonSynced)
		Consistently(w.posts(id), quiet).Should(Equal(1))
		Expect(w.sim.Requests()[len(w.sim.Requests())-1].UserAgent).To(Equal("manager-a"))
		Expect(logsB.String()).NotTo(ContainSubstring("Starting workers"), "the standby runs no controller")

		By("handing over when the leader dies, without a second sync inside the interval")
		stopA()
		Eventually(logsB.String, 20*time.Second).Should(MatchRegexp(`sync not due.*"ha"`))
		Expect(w.posts(id)()).To(Equal(1))

		By("syncing from the new leader when the interval has passed")
		w.clock.Step(12*time.Hour + time.Second)
		w.poke("ha")
		Eventually(w.posts(id)).Should(Equal(2))
		Expect(w.sim.Requests()[len(w.sim.Requests())-1].UserAgent).To(Equal("manager-b"))
	})
})

var _ = Describe("Concurrency", func() {
	It("keeps other tenants syncing while one tenant's request hangs", func() {
		hanging, other := newTokenID(), newTokenID()
		w := newWorldWith(worldOptions{
			tokens:      []graphsim.VppToken{validToken(hanging)},
			otherTokens: []graphsim.VppToken{validToken(other)},
		})
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, TokenID: hanging, Delay: 4 * time.Second})

		w.createToken("hanging", hanging)
		Eventually(func() int { return len(w.sim.Requests()) }).Should(BeNumerically(">=", 2), "signed in")
		w.createToken("other", other, func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.Name = otherSecretName
		})

		w.waitForReason("other", intunev1alpha1.ReasonSynced)
		Expect(w.get("hanging").Status.LastSyncAttemptTime).To(BeNil(), "the hanging request is still waiting")
		w.waitForReason("hanging", intunev1alpha1.ReasonSynced)
	})
})

var _ = Describe("An API server outage", func() {
	It("loses no status: the write is retried once the API server is back", func() {
		id := newTokenID()
		proxy := startAPIProxy()
		w := newWorldWith(worldOptions{tokens: []graphsim.VppToken{validToken(id)}, config: proxy.config()})
		// Hold the reply back so the outage starts while the sync is under way.
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Delay: 2 * time.Second, Times: 1})

		w.createToken("outage", id)
		Eventually(func() int { return w.sim.Count(graphsim.OpToken, "") }).Should(Equal(1))
		proxy.setDown(true)
		Eventually(w.posts(id), 10*time.Second).Should(Equal(1))
		Consistently(func() *metav1.Time { return w.get("outage").Status.LastSyncAttemptTime }, time.Second).Should(BeNil())

		proxy.setDown(false)
		t := w.waitForReason("outage", intunev1alpha1.ReasonSynced)
		Expect(t.Status.OrganizationName).To(Equal("Contoso Ltd"))
		Expect(w.posts(id)()).To(BeNumerically("<=", 2), "at most the one sync whose status was lost is repeated")
		Expect(w.logs.String()).To(MatchRegexp(`Reconciler error.*"outage"`), "the outage did hit the status write")
	})
})
