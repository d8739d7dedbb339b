package controllers

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	opmetrics "github.com/vpp-operator/vpp-operator/internal/metrics"
	"github.com/vpp-operator/vpp-operator/internal/schedule"
)

// quiet is how long specs watch for calls that must not happen. Requeues
// after a failure wait at least schedule.BackoffBase of real time, so any call
// inside this window would be a hot loop.
const quiet = 3 * time.Second

func condition(t *intunev1alpha1.VppToken, typ string) *metav1.Condition {
	return meta.FindStatusCondition(t.Status.Conditions, typ)
}

var _ = Describe("Syncing a VppToken", func() {
	It("writes the seed reply into status, with times in UTC and enum strings as sent", func() {
		w := newWorld(seedToken())
		modifications, stopWatch := w.watchModifications("seed")
		defer stopWatch()
		before := time.Now().UTC().Truncate(time.Second)

		w.createToken("seed", seedTokenID)
		t := w.waitForReason("seed", intunev1alpha1.ReasonTokenStateUnknown)

		s := t.Status
		Expect(s.OrganizationName).To(Equal("Organization Name value"))
		Expect(s.AppleID).To(Equal("Apple Id value"))
		Expect(s.VppTokenAccountType).To(Equal("String"))
		Expect(s.State).To(Equal("String"))
		Expect(s.CountryOrRegion).To(Equal("Country Or Region value"))
		Expect(s.AutomaticallyUpdateApps).To(HaveValue(BeTrue()))
		Expect(s.ExpirationDateTime.UTC()).To(Equal(time.Date(2016, 12, 31, 21, 2, 19, 0, time.UTC)))
		Expect(s.LastModifiedDateTime.UTC()).To(Equal(time.Date(2016, 12, 31, 20, 59, 9, 0, time.UTC)))
		// graphsim stamps the sync as Intune would.
		Expect(s.LastSyncDateTime.UTC()).To(BeTemporally(">=", before))
		Expect(s.LastSyncStatus).To(Equal("completed"))

		Expect(s.ObservedGeneration).To(Equal(t.Generation))
		Expect(s.LastSyncAttemptTime).NotTo(BeNil())
		Expect(s.LastSuccessfulSyncTime).To(Equal(s.LastSyncAttemptTime))
		Expect(s.NextSyncTime.Sub(s.LastSyncAttemptTime.Time)).To(Equal(12 * time.Hour))

		synced := condition(t, intunev1alpha1.ConditionSynced)
		Expect(synced.Status).To(Equal(metav1.ConditionTrue))
		Expect(synced.Reason).To(Equal(intunev1alpha1.ReasonSynced))
		Expect(synced.Message).To(ContainSubstring("request-id"))
		ready := condition(t, intunev1alpha1.ConditionReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Message).To(ContainSubstring(`"String"`))

		By("making one call and one status write")
		Expect(w.sim.Count(graphsim.OpSyncLicenses, seedTokenID)).To(Equal(1))
		Expect(w.sim.Count(graphsim.OpGetVppToken, seedTokenID)).To(Equal(0), "a complete wrapped reply needs no GET")
		Consistently(modifications, quiet).Should(Equal(1))
		Eventually(func() []string { return w.events("seed") }).Should(ConsistOf(
			HavePrefix("Warning TokenStateUnknown:"), HavePrefix("Warning Expired: The token expired")))
	})

	DescribeTable("accepts every reply shape Graph sends, reading the token when the reply lacks it",
		func(shape string, wantGets int) {
			id := newTokenID()
			tok := validToken(id)
			tok.ReplyShape = shape
			w := newWorld(tok)

			w.createToken("shape", id)
			t := w.waitForReason("shape", intunev1alpha1.ReasonSynced)

			Expect(t.Status.OrganizationName).To(Equal("Contoso Ltd"))
			Expect(t.Status.State).To(Equal("valid"))
			Expect(t.Status.ExpirationDateTime.UTC()).To(Equal(time.Date(2027, 6, 30, 10, 0, 0, 0, time.UTC)))
			Expect(t.Status.LastSyncStatus).To(Equal("completed"))
			Expect(w.sim.Count(graphsim.OpSyncLicenses, id)).To(Equal(1))
			Expect(w.sim.Count(graphsim.OpGetVppToken, id)).To(Equal(wantGets))
		},
		Entry("a bare vppToken", graphsim.ShapeBare, 0),
		Entry("a wrapped vppToken", graphsim.ShapeWrapped, 0),
		Entry("a wrapped vppToken missing properties", graphsim.ShapeWrappedPartial, 1),
		Entry("an empty 200", graphsim.ShapeEmpty, 1),
		Entry("a 204", graphsim.ShapeNoContent, 1),
	)

	It("keeps a never-synced Intune time out of status", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.ReplyShape = graphsim.ShapeBare
		w := newWorld(tok)
		// Let the sync itself fail to stamp the time: serve the stored token as is.
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusOK, Body: mustJSON(tok.Properties)})

		w.createToken("never", id)
		t := w.waitForReason("never", intunev1alpha1.ReasonSynced)
		Expect(t.Status.LastSyncDateTime).To(BeNil())
		Expect(t.Status.LastModifiedDateTime).NotTo(BeNil())
	})

	It("passes unknown enum values through and shows what the token's state means", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["vppTokenAccountType"] = "government"
		tok.Properties["state"] = "expired"
		w := newWorld(tok)

		w.createToken("expired", id)
		t := w.waitForReason("expired", intunev1alpha1.ReasonTokenExpired)
		Expect(t.Status.VppTokenAccountType).To(Equal("government"))
		Expect(condition(t, intunev1alpha1.ConditionSynced).Status).To(Equal(metav1.ConditionTrue))
		Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring("Apple Business Manager"))

		By("picking up a renewal on the next sync")
		Expect(w.sim.SetTokenProperty(id, "state", "valid")).To(Succeed())
		w.clock.Step(12*time.Hour + time.Second)
		w.poke("expired")
		w.waitForReason("expired", intunev1alpha1.ReasonSynced)
		Expect(w.sim.Count(graphsim.OpSyncLicenses, id)).To(Equal(2))
		Eventually(func() []string { return w.events("expired") }).Should(ContainElement(HavePrefix("Normal Synced:")))
	})
})

var _ = Describe("Scheduling", func() {
	It("does not call Graph again before the interval, and does when it has passed", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("sched", id, func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: time.Hour}
		})
		w.waitForReason("sched", intunev1alpha1.ReasonSynced)

		w.clock.Step(59 * time.Minute)
		w.poke("sched")
		Consistently(w.posts(id), quiet).Should(Equal(1))

		w.clock.Step(time.Minute)
		w.poke("sched")
		Eventually(w.posts(id)).Should(Equal(2))
		Consistently(w.posts(id), quiet).Should(Equal(2))
	})

	It("syncs at once when the spec changes", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("respec", id)
		w.waitForReason("respec", intunev1alpha1.ReasonSynced)

		w.update("respec", func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 6 * time.Hour}
		})
		Eventually(w.posts(id)).Should(Equal(2))
		Eventually(func() time.Duration {
			s := w.get("respec").Status
			return s.NextSyncTime.Sub(s.LastSyncAttemptTime.Time)
		}).Should(Equal(6 * time.Hour))
	})

	It("makes no Graph call after a manager restart for tokens that are not due", func() {
		ids := []string{newTokenID(), newTokenID()}
		w := newWorld(validToken(ids[0]), validToken(ids[1]))
		w.createToken("restart-a", ids[0])
		w.createToken("restart-b", ids[1])
		w.waitForReason("restart-a", intunev1alpha1.ReasonSynced)
		w.waitForReason("restart-b", intunev1alpha1.ReasonSynced)
		callsBefore := len(w.sim.Requests())

		w.clock.Step(11 * time.Hour)
		newLogs := w.restartManager()

		By("reconciling both tokens and deciding they are not due")
		Eventually(newLogs, 20*time.Second).Should(And(
			MatchRegexp(`sync not due.*restart-a`), MatchRegexp(`sync not due.*restart-b`)))
		Consistently(func() int { return len(w.sim.Requests()) }, quiet).Should(Equal(callsBefore), func() string {
			return fmt.Sprintf("%+v", w.sim.Requests()[callsBefore:])
		})

		By("syncing once the interval has passed")
		w.clock.Step(time.Hour)
		w.poke("restart-a")
		Eventually(w.posts(ids[0])).Should(Equal(2))
		Expect(w.sim.Count(graphsim.OpSyncLicenses, ids[1])).To(Equal(1))
	})

	It("makes no Graph call for a suspended token, and syncs when it resumes", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("paused", id, func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = true })

		t := w.waitForReason("paused", intunev1alpha1.ReasonSuspended)
		Expect(t.Status.NextSyncTime).To(BeNil())
		Consistently(func() int { return len(w.sim.Requests()) }, quiet).Should(BeZero())

		w.update("paused", func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = false })
		w.waitForReason("paused", intunev1alpha1.ReasonSynced)
		Expect(w.posts(id)()).To(Equal(1))
	})
})

var _ = Describe("Failures", func() {
	type failureCase struct {
		// arrange sets the world up to fail; it returns the token ID to use.
		arrange    func(w *world, id string) string
		reason     string
		message    string
		retryAfter time.Duration
	}

	DescribeTable("set their reason, back off without a hot loop, and retry when the backoff ends",
		func(fc failureCase) {
			id := newTokenID()
			w := newWorld(validToken(id))
			id = fc.arrange(w, id)

			w.createToken("broken", id)
			t := w.waitForReason("broken", fc.reason)

			synced := condition(t, intunev1alpha1.ConditionSynced)
			Expect(synced.Status).To(Equal(metav1.ConditionFalse))
			Expect(synced.Reason).To(Equal(fc.reason))
			Expect(synced.Message).To(ContainSubstring(fc.message))
			Expect(synced.Message).NotTo(ContainSubstring("_version"), "Intune's JSON is unwrapped")
			Expect(t.Status.ConsecutiveFailures).To(Equal(int32(1)))
			Expect(t.Status.LastFailureTime).NotTo(BeNil())
			wait := t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)
			Expect(wait).To(Equal(max(schedule.BackoffBase, fc.retryAfter)))
			Eventually(func() []string { return w.events("broken") }).Should(
				ConsistOf(HavePrefix("Warning " + fc.reason + ":")))

			By("making no further call while backing off")
			calls := func() int { return len(w.sim.Requests()) }
			before := calls()
			w.poke("broken")
			Consistently(calls, quiet).Should(Equal(before))

			By("retrying once when the backoff has passed, and backing off longer")
			w.clock.Step(wait)
			w.poke("broken")
			Eventually(func() int32 { return w.get("broken").Status.ConsecutiveFailures }).Should(Equal(int32(2)))
			t = w.get("broken")
			Expect(t.Status.NextSyncTime.Sub(t.Status.LastSyncAttemptTime.Time)).To(
				Equal(max(2*schedule.BackoffBase, fc.retryAfter)))
			Expect(w.events("broken")).To(HaveLen(1), "an unchanged outcome records no new event")
		},
		Entry("Graph 404: the token is not in the tenant", failureCase{
			arrange: func(_ *world, _ string) string { return newTokenID() },
			reason:  intunev1alpha1.ReasonTokenNotFound, message: "check spec.tokenId",
		}),
		Entry("401 from the token endpoint: a wrong client secret", failureCase{
			arrange: func(w *world, id string) string {
				w.putSecret(secretName, map[string]string{
					"tenantId": tenantID, "clientId": clientID, "clientSecret": "not-the-secret"})
				return id
			},
			reason: intunev1alpha1.ReasonCredentialsInvalid, message: "AADSTS7000215",
		}),
		Entry("Graph 403: the app lacks the permission", failureCase{
			arrange: func(w *world, id string) string {
				w.putSecret(secretName, map[string]string{
					"tenantId": tenantID, "clientId": deniedClientID, "clientSecret": deniedSecret})
				return id
			},
			reason: intunev1alpha1.ReasonPermissionDenied, message: "DeviceManagementServiceConfig.ReadWrite.All",
		}),
		Entry("Graph 429 with Retry-After", failureCase{
			arrange: func(w *world, id string) string {
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusTooManyRequests, RetryAfter: "120"})
				return id
			},
			reason: intunev1alpha1.ReasonThrottled, message: "throttling", retryAfter: 2 * time.Minute,
		}),
		Entry("Graph 503", failureCase{
			arrange: func(w *world, id string) string {
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusServiceUnavailable})
				return id
			},
			reason: intunev1alpha1.ReasonGraphUnavailable, message: "Graph answered 503",
		}),
		Entry("Graph 500", failureCase{
			arrange: func(w *world, id string) string {
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusInternalServerError})
				return id
			},
			reason: intunev1alpha1.ReasonGraphUnavailable, message: "Internal Server Error",
		}),
		Entry("Intune reporting a failed sync with Apple", failureCase{
			arrange: func(w *world, id string) string {
				tok := validToken(id)
				tok.Properties["lastSyncStatus"] = "failed"
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusOK, Body: mustJSON(tok.Properties)})
				return id
			},
			reason: intunev1alpha1.ReasonSyncFailed, message: "sync with Apple failed",
		}),
		Entry("a malformed reply", failureCase{
			arrange: func(w *world, id string) string {
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusOK, Body: `{"id": "` + id + `", "state": `})
				return id
			},
			reason: intunev1alpha1.ReasonGraphUnavailable, message: "not a vppToken",
		}),
		Entry("a dropped connection", failureCase{
			arrange: func(w *world, id string) string {
				w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Reset: true})
				return id
			},
			reason: intunev1alpha1.ReasonGraphUnavailable, message: "No usable reply",
		}),
	)

	DescribeTable("hostile replies are stored bounded and cost one call",
		func(arrange func(w *world, id string), reason string) {
			id := newTokenID()
			w := newWorld(validToken(id))
			arrange(w, id)
			w.createToken("hostile", id)
			t := w.waitForReason("hostile", reason)
			Expect(len(mustJSON(t.Status))).To(BeNumerically("<", 16<<10))
			Consistently(func() int { return len(w.sim.Requests()) }, quiet).Should(Equal(len(w.sim.Requests())))
			Expect(w.sim.Count(graphsim.OpToken, "")).To(Equal(1))
			Expect(w.posts(id)()).To(BeNumerically("<=", 1))
		},
		Entry("a 40 KB error code", func(w *world, _ string) {
			w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusBadRequest,
				Body: `{"error":{"code":"` + strings.Repeat("x", 40000) + `","message":"bad"}}`})
		}, intunev1alpha1.ReasonBadRequest),
		Entry("a 40 KB state", func(w *world, id string) {
			Expect(w.sim.SetTokenProperty(id, "state", strings.Repeat("x", 40000))).To(Succeed())
		}, intunev1alpha1.ReasonTokenStateUnknown),
		Entry("an expiry past year 9999 in UTC", func(w *world, id string) {
			Expect(w.sim.SetTokenProperty(id, "expirationDateTime", "9999-12-31T23:59:59-14:00")).To(Succeed())
		}, intunev1alpha1.ReasonGraphUnavailable),
		Entry("a 40 KB correlation ID from the token endpoint", func(w *world, _ string) {
			w.sim.Inject(graphsim.Fault{Op: graphsim.OpToken, Status: http.StatusBadRequest,
				Body: `{"error":"invalid_client","error_codes":[7000215],"correlation_id":"` + strings.Repeat("c", 40000) + `"}`})
		}, intunev1alpha1.ReasonCredentialsInvalid),
	)

	It("keeps what Graph said when a later reply holds no vppToken", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("empty", id)
		w.waitForReason("empty", intunev1alpha1.ReasonSynced)

		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusOK, Body: `{}`})
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpGetVppToken, Status: http.StatusOK, Body: `{}`})
		w.clock.Step(12*time.Hour + time.Second)
		w.poke("empty")
		t := w.waitForReason("empty", intunev1alpha1.ReasonGraphUnavailable)
		Expect(t.Status.OrganizationName).To(Equal("Contoso Ltd"))
		Expect(t.Status.ExpirationDateTime).NotTo(BeNil())
		Expect(t.Status.ConsecutiveFailures).To(Equal(int32(1)))
	})

	It("does not repeat a requested sync whose status the API server refused", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["organizationName"] = "Refused Ltd"
		w := newWorld(tok)
		denyStatus(w.ns, "Refused Ltd")
		w.createToken("refused-forced", id, func(t *intunev1alpha1.VppToken) {
			t.Annotations = map[string]string{intunev1alpha1.SyncRequestedAtAnnotation: "2026-12-04T10:00:00Z"}
		})
		t := w.waitForReason("refused-forced", intunev1alpha1.ReasonGraphUnavailable)
		Expect(t.Status.LastHandledSyncRequest).To(Equal("2026-12-04T10:00:00Z"))
		for range 3 {
			w.poke("refused-forced")
		}
		Consistently(w.posts(id), quiet).Should(Equal(1))
	})

	It("records a status the API server refuses as a failure, and backs off", func() {
		id := newTokenID()
		tok := validToken(id)
		tok.Properties["organizationName"] = "Refused Ltd"
		w := newWorld(tok)
		denyStatus(w.ns, "Refused Ltd")

		w.createToken("refused", id)
		t := w.waitForReason("refused", intunev1alpha1.ReasonGraphUnavailable)
		Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring("The API server refused"))
		Expect(t.Status.OrganizationName).To(BeEmpty())
		Consistently(w.posts(id), quiet).Should(Equal(1))
	})

	It("does not cut a backoff short when only the Secret's metadata changes", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusServiceUnavailable})
		w.createToken("annotated", id)
		w.waitForReason("annotated", intunev1alpha1.ReasonGraphUnavailable)

		annotate := func(i int) {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: secretName}, s)).To(Succeed())
			s.Annotations = map[string]string{"reloader.example/seen": fmt.Sprint(i)}
			Expect(k8sClient.Update(ctx, s)).To(Succeed())
		}
		for i := range 3 {
			annotate(i)
		}
		Consistently(w.posts(id), quiet).Should(Equal(1))

		By("holding after a restart too")
		newLogs := w.restartManager()
		Eventually(newLogs, 20*time.Second).Should(MatchRegexp(`sync not due.*annotated`))
		annotate(3)
		Consistently(w.posts(id), quiet).Should(Equal(1))

		By("retrying at once when the credentials themselves change")
		w.putSecret(secretName, map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": "rotated"})
		w.waitForReason("annotated", intunev1alpha1.ReasonCredentialsInvalid)
	})

	It("reports a missing Secret and recovers as soon as the Secret appears", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("nosecret", id, func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.Name = "not-yet"
		})
		t := w.waitForReason("nosecret", intunev1alpha1.ReasonCredentialsMissing)
		Expect(condition(t, intunev1alpha1.ConditionReady).Message).To(ContainSubstring(`Secret "not-yet" not found`))
		Expect(w.sim.Requests()).To(BeEmpty())

		w.putSecret("not-yet", map[string]string{"tenantId": tenantID, "clientId": clientID})
		t = w.waitForReason("nosecret", intunev1alpha1.ReasonCredentialsMissing)
		Eventually(func() string {
			return condition(w.get("nosecret"), intunev1alpha1.ConditionReady).Message
		}).Should(ContainSubstring(`Secret "not-yet" has no credential: add the key clientSecret, or tls.crt and tls.key.`))

		w.putSecret("not-yet", map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret})
		w.waitForReason("nosecret", intunev1alpha1.ReasonSynced)
		Expect(w.posts(id)()).To(Equal(1))
	})

	It("picks up a corrected Secret without a restart", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.putSecret(secretName, map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": "stale"})
		w.createToken("rotate", id)
		w.waitForReason("rotate", intunev1alpha1.ReasonCredentialsInvalid)

		w.putSecret(secretName, map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret})
		w.waitForReason("rotate", intunev1alpha1.ReasonSynced)
		Expect(w.get("rotate").Status.ConsecutiveFailures).To(BeZero())
	})

	It("keeps the backoff across a manager restart", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Status: http.StatusServiceUnavailable})
		w.createToken("persist", id)
		w.waitForReason("persist", intunev1alpha1.ReasonGraphUnavailable)

		newLogs := w.restartManager()
		Eventually(newLogs, 20*time.Second).Should(MatchRegexp(`sync not due.*persist`))
		Consistently(w.posts(id), quiet).Should(Equal(1))
	})
})

var _ = Describe("Access tokens", func() {
	It("are shared by tokens that use the same Secret", func() {
		ids := []string{newTokenID(), newTokenID(), newTokenID()}
		w := newWorld(validToken(ids[0]), validToken(ids[1]), validToken(ids[2]))
		for i, id := range ids {
			w.createToken("shared-"+string(rune('a'+i)), id)
		}
		for i := range ids {
			w.waitForReason("shared-"+string(rune('a'+i)), intunev1alpha1.ReasonSynced)
		}
		Expect(w.sim.Count(graphsim.OpToken, "")).To(Equal(1))
		Expect(w.sim.Count(graphsim.OpSyncLicenses, "")).To(Equal(3))
	})
})

var _ = Describe("Secrets", func() {
	It("never appear in status, events, logs, metrics or errors, whatever the outcome", func() {
		issuer := clusterIssuer()
		cert, stray := validCertificate(), validCertificate()
		ids := map[string]string{}
		tokens := []graphsim.VppToken{seedToken()}
		// Each token is named for the Ready reason it ends in.
		served := func(name string, mutate func(*graphsim.VppToken)) {
			ids[name] = newTokenID()
			t := validToken(ids[name])
			if mutate != nil {
				mutate(&t)
			}
			tokens = append(tokens, t)
		}
		state := func(s string) func(*graphsim.VppToken) {
			return func(t *graphsim.VppToken) { t.Properties["state"] = s }
		}
		for _, name := range []string{"synced", "synced-cert", "synced-wi", "wrong-secret", "wrong-cert",
			"denied", "missing", "bad-request", "throttled", "malformed", "suspended"} {
			served(name, nil)
		}
		served("sync-failed", func(t *graphsim.VppToken) { t.SyncResult = "failed" })
		served("in-progress", func(t *graphsim.VppToken) { t.SyncPolls = 100 })
		served("expired", state("expired"))
		served("invalid", state("invalid"))
		served("external-mdm", state("assignedToExternalMDM"))
		served("duplicate", state("duplicateLocationId"))
		ids["not-found"] = newTokenID()

		w := newWorldWith(worldOptions{tokens: tokens, issuers: []graphsim.Issuer{issuer},
			apps: func(ns string) []graphsim.App {
				return []graphsim.App{
					{ClientID: certClientID, Certificates: []string{cert.cert}},
					federated(wiClientID, issuer, ns, wiAccount),
				}
			}})
		w.putSecret("wrong", map[string]string{"tenantId": tenantID, "clientId": clientID, "clientSecret": clientSecret + "x"})
		w.putSecret("denied", map[string]string{"tenantId": tenantID, "clientId": deniedClientID, "clientSecret": deniedSecret})
		w.putTLSSecret("app-cert", cert)
		w.putTLSSecret("stray-cert", stray)
		w.putServiceAccount(wiAccount, wiAnnotations(wiClientID))
		fault := func(name string, status int) {
			w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, TokenID: ids[name], Status: status})
		}
		fault("bad-request", http.StatusBadRequest)
		fault("throttled", http.StatusTooManyRequests)
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, TokenID: ids["malformed"], Status: http.StatusOK,
			Body: `{"id":"` + ids["malformed"] + `","token":"` + appleToken + `","state":5}`})

		withSecret := func(name string) func(*intunev1alpha1.VppToken) {
			return func(t *intunev1alpha1.VppToken) { t.Spec.Credentials.SecretRef.Name = name }
		}
		options := map[string]func(*intunev1alpha1.VppToken){
			"synced-cert":  withCertificate("app-cert"),
			"wrong-cert":   withCertificate("stray-cert"),
			"synced-wi":    withWorkloadIdentity(wiAccount),
			"wrong-secret": withSecret("wrong"),
			"denied":       withSecret("denied"),
			"missing":      withSecret("absent"),
			"suspended":    func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = true },
		}
		w.createToken("seed", seedTokenID)
		for name, id := range ids {
			if mutate, ok := options[name]; ok {
				w.createToken(name, id, mutate)
			} else {
				w.createToken(name, id)
			}
		}
		want := map[string]string{
			"seed": intunev1alpha1.ReasonTokenStateUnknown, "synced": intunev1alpha1.ReasonSynced,
			"synced-cert": intunev1alpha1.ReasonSynced, "synced-wi": intunev1alpha1.ReasonSynced,
			"wrong-secret": intunev1alpha1.ReasonCredentialsInvalid,
			"wrong-cert":   intunev1alpha1.ReasonCredentialsInvalid,
			"denied":       intunev1alpha1.ReasonPermissionDenied, "missing": intunev1alpha1.ReasonCredentialsMissing,
			"not-found": intunev1alpha1.ReasonTokenNotFound, "bad-request": intunev1alpha1.ReasonBadRequest,
			"throttled": intunev1alpha1.ReasonThrottled, "malformed": intunev1alpha1.ReasonGraphUnavailable,
			"sync-failed": intunev1alpha1.ReasonSyncFailed, "in-progress": intunev1alpha1.ReasonSyncInProgress,
			"expired": intunev1alpha1.ReasonTokenExpired, "invalid": intunev1alpha1.ReasonTokenInvalid,
			"external-mdm": intunev1alpha1.ReasonAssignedToExternalMDM,
			"duplicate":    intunev1alpha1.ReasonDuplicateLocation, "suspended": intunev1alpha1.ReasonSuspended,
		}
		for name, reason := range want {
			w.waitForReason(name, reason)
		}
		Expect(slices.Sorted(maps.Values(want))).To(ContainElements(allReadyReasons), "the run covers every reason")
		Eventually(func() int { return len(w.events("denied")) }).Should(BeNumerically(">", 0))

		var emitted strings.Builder
		var list intunev1alpha1.VppTokenList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(w.ns))).To(Succeed())
		for _, t := range list.Items {
			emitted.WriteString(mustJSON(t.Status))
			emitted.WriteString(strings.Join(w.events(t.Name), "\n"))
		}
		emitted.WriteString(w.logs.String())
		// client-go logs protobuf bodies at high verbosity as hex dumps.
		emitted.WriteString(undumpHex(w.logs.String()))
		emitted.WriteString(gatherMetrics(metrics.Registry, w.metrics))
		Expect(emitted.String()).To(ContainSubstring("AADSTS7000215"), "the scan covers the failures")
		Expect(emitted.String()).To(ContainSubstring("AADSTS700027"), "and a refused certificate")

		planted := []string{appleToken, clientSecret, deniedSecret, otherSecret}
		for _, c := range []testCertificate{cert, stray} {
			// A leak of a PEM key shows as whole lines of its body.
			planted = append(planted, strings.Split(keyBody(c.key), "\n")...)
		}
		assertions := w.sim.ClientAssertions()
		Expect(assertions).NotTo(BeEmpty(), "the run exchanged a ServiceAccount token")
		for _, a := range assertions {
			planted = append(planted, a, a[strings.LastIndex(a, ".")+1:])
		}
		accessTokens := w.sim.AccessTokens()
		Expect(accessTokens).NotTo(BeEmpty())
		planted = append(planted, accessTokens...)
		for _, secret := range planted {
			Expect(emitted.String()).NotTo(ContainSubstring(secret))
			Expect(emitted.String()).NotTo(ContainSubstring(base64.StdEncoding.EncodeToString([]byte(secret))))
		}
	})
})

// allReadyReasons are the reasons the Ready condition can have.
var allReadyReasons = []string{
	intunev1alpha1.ReasonSynced, intunev1alpha1.ReasonCredentialsMissing, intunev1alpha1.ReasonCredentialsInvalid,
	intunev1alpha1.ReasonPermissionDenied, intunev1alpha1.ReasonTokenNotFound, intunev1alpha1.ReasonBadRequest,
	intunev1alpha1.ReasonThrottled, intunev1alpha1.ReasonGraphUnavailable, intunev1alpha1.ReasonSyncFailed,
	intunev1alpha1.ReasonSyncInProgress, intunev1alpha1.ReasonTokenExpired, intunev1alpha1.ReasonTokenInvalid,
	intunev1alpha1.ReasonAssignedToExternalMDM, intunev1alpha1.ReasonDuplicateLocation,
	intunev1alpha1.ReasonTokenStateUnknown, intunev1alpha1.ReasonSuspended,
}

// gatherMetrics renders every metric of the registries, controller-runtime's
// and the operator's own, as a scrape would.
func gatherMetrics(registries ...prometheus.Gatherer) string {
	GinkgoHelper()
	families, err := prometheus.Gatherers(registries).Gather()
	Expect(err).NotTo(HaveOccurred())
	var b strings.Builder
	for _, mf := range families {
		_, err := expfmt.MetricFamilyToText(&b, mf)
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(b.String()).To(ContainSubstring("controller_runtime_reconcile_total"))
	Expect(b.String()).To(ContainSubstring(opmetrics.TokenReady))
	Expect(b.String()).To(ContainSubstring(opmetrics.GraphRequestsTotal))
	return b.String()
}

var _ = Describe("The API server", func() {
	base := func() *intunev1alpha1.VppToken {
		return &intunev1alpha1.VppToken{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "invalid-"},
			Spec: intunev1alpha1.VppTokenSpec{
				TokenID:     seedTokenID,
				Credentials: intunev1alpha1.Credentials{SecretRef: &intunev1alpha1.SecretReference{Name: "app"}},
			},
		}
	}

	It("defaults the interval and the cloud", func() {
		t := base()
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, t)
		Expect(t.Spec.SyncInterval.Duration).To(Equal(12 * time.Hour))
		Expect(t.Spec.Cloud).To(Equal(intunev1alpha1.CloudAzurePublic))
	})

	DescribeTable("rejects invalid specs with a message that says what is wrong",
		func(mutate func(*intunev1alpha1.VppToken), field, want string) {
			t := base()
			mutate(t)
			err := k8sClient.Create(ctx, t)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(And(ContainSubstring(field), ContainSubstring(want)))
		},
		Entry("a token ID that is not a GUID", func(t *intunev1alpha1.VppToken) { t.Spec.TokenID = "my-token" },
			"spec.tokenId", "should match"),
		Entry("a missing token ID", func(t *intunev1alpha1.VppToken) { t.Spec.TokenID = "" },
			"spec.tokenId", "should match"),
		Entry("an interval under 15m", func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 5 * time.Minute}
		}, "spec.syncInterval", "must be at least 15m"),
		Entry("an unknown cloud", func(t *intunev1alpha1.VppToken) { t.Spec.Cloud = "AzureGermany" },
			"spec.cloud", "supported values"),
		Entry("no Secret name", func(t *intunev1alpha1.VppToken) { t.Spec.Credentials.SecretRef.Name = "" },
			"spec.credentials.secretRef.name", "at least 1"),
		Entry("a Secret name that is not a name", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.Name = "../other"
		}, "spec.credentials.secretRef.name", "should match"),
		Entry("two credential sources", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.WorkloadIdentity = &intunev1alpha1.WorkloadIdentity{ServiceAccountName: "intune"}
		}, "spec.credentials", "set exactly one of secretRef or workloadIdentity"),
		Entry("no credential source", func(t *intunev1alpha1.VppToken) { t.Spec.Credentials = intunev1alpha1.Credentials{} },
			"spec.credentials", "set exactly one of secretRef or workloadIdentity"),
		Entry("a ServiceAccount name that is not a name", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials = intunev1alpha1.Credentials{
				WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: "kube-system/default"}}
		}, "spec.credentials.workloadIdentity.serviceAccountName", "should match"),
		Entry("a client ID that is not a GUID", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials = intunev1alpha1.Credentials{WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{
				ServiceAccountName: "intune", ClientID: "my-app"}}
		}, "spec.credentials.workloadIdentity.clientId", "should match"),
		Entry("a tenant ID that is neither GUID nor domain", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.TenantID = "https://evil.example/"
		}, "spec.credentials.secretRef.tenantId", "should match"),
		Entry("an absurdly long token name", func(t *intunev1alpha1.VppToken) {
			t.GenerateName, t.Name = "", strings.Repeat("a", 300)
		}, "metadata.name", "must be no more than 253 characters"),
		Entry("an absurdly long Secret name", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials.SecretRef.Name = strings.Repeat("a", 300)
		}, "spec.credentials.secretRef.name", "may not be more than 253"),
		Entry("an absurdly long ServiceAccount name", func(t *intunev1alpha1.VppToken) {
			t.Spec.Credentials = intunev1alpha1.Credentials{
				WorkloadIdentity: &intunev1alpha1.WorkloadIdentity{ServiceAccountName: strings.Repeat("a", 300)}}
		}, "spec.credentials.workloadIdentity.serviceAccountName", "may not be more than 253"),
		Entry("an absurdly long interval", func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 1<<63 - 1}
		}, "spec.syncInterval", "should match"),
	)

	DescribeTable("rejects an interval that is not a duration it can hold",
		func(interval string) {
			raw := []byte(`{"apiVersion":"intune.vpp-operator.io/v1alpha1","kind":"VppToken",
				"metadata":{"generateName":"invalid-","namespace":"default"},
				"spec":{"tokenId":"` + seedTokenID + `","syncInterval":"` + interval + `",
				"credentials":{"secretRef":{"name":"app"}}}}`)
			err := applyRaw(raw)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(And(ContainSubstring("spec.syncInterval"), ContainSubstring("should match")))
			Expect(err.Error()).NotTo(ContainSubstring("type conversion error"))
		},
		Entry("a word", "daily"),
		Entry("days, which Go durations lack", "1d"),
		Entry("more hours than a duration holds", "2562048h"),
	)
})

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// hexDumpLine matches a line of a hex dump as client-go logs bodies: offset,
// up to 16 bytes, then the printable column.
var hexDumpLine = regexp.MustCompile(`[0-9a-f]{8}((?:  ?[0-9a-f]{2}){1,16})  \|`)

// undumpHex returns the bytes of every hex dump in s, joined.
func undumpHex(s string) string {
	var out []byte
	for _, m := range hexDumpLine.FindAllStringSubmatch(s, -1) {
		b, err := hex.DecodeString(strings.Join(strings.Fields(m[1]), ""))
		Expect(err).NotTo(HaveOccurred())
		out = append(out, b...)
	}
	return string(out)
}
