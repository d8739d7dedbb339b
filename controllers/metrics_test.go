package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	opmetrics "github.com/vpp-operator/vpp-operator/internal/metrics"
)

var _ = Describe("The operator's metrics", func() {
	It("report a synced token's expiry, last success, interval and readiness, until it is deleted", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.createToken("watched", id, func(t *intunev1alpha1.VppToken) {
			t.Spec.SyncInterval = &metav1.Duration{Duration: 6 * time.Hour}
		})
		t := w.waitForReason("watched", intunev1alpha1.ReasonSynced)

		labels := fmt.Sprintf(`{name="watched",namespace=%q,organization="Contoso Ltd"}`, w.ns)
		Eventually(func() map[string]float64 { return w.series(opmetrics.TokenReady) }).Should(Equal(
			map[string]float64{
				strings.TrimSuffix(labels, "}") + `,status="True"}`:    1,
				strings.TrimSuffix(labels, "}") + `,status="False"}`:   0,
				strings.TrimSuffix(labels, "}") + `,status="Unknown"}`: 0,
			}))
		Expect(w.series(opmetrics.TokenExpiration)).To(Equal(map[string]float64{
			labels: float64(time.Date(2027, 6, 30, 10, 0, 0, 0, time.UTC).Unix())}))
		Expect(w.series(opmetrics.TokenLastSuccess)).To(Equal(map[string]float64{
			labels: float64(t.Status.LastSuccessfulSyncTime.Unix())}))
		Expect(w.series(opmetrics.TokenSyncInterval)).To(Equal(map[string]float64{labels: 6 * 3600}))
		Expect(w.series(opmetrics.TokenState)).To(Equal(map[string]float64{
			strings.TrimSuffix(labels, "}") + `,state="valid"}`: 1}))
		Expect(w.series(opmetrics.ExpiryWarning)).To(Equal(map[string]float64{"{}": 30 * 24 * 3600}),
			"the default --expiry-warning, which the alerts compare expiry dates with")

		By("counting each request to Graph and the identity platform by operation and code")
		Expect(w.series(opmetrics.GraphRequestsTotal)).To(And(
			HaveKeyWithValue(`{code="200",operation="syncLicenses"}`,
				float64(w.sim.Count(graphsim.OpSyncLicenses, id))),
			HaveKeyWithValue(`{code="200",operation="token"}`, BeNumerically(">=", 1)),
			Not(HaveKey(ContainSubstring(`operation="getVppToken"`)))), "a complete reply needs no GET")
		Expect(w.series(opmetrics.GraphRequestSeconds)).To(HaveKeyWithValue(`{operation="syncLicenses"}`,
			float64(w.sim.Count(graphsim.OpSyncLicenses, id))), "one timing per request")

		By("leaving no series behind once the token is gone")
		Expect(k8sClient.Delete(ctx, w.get("watched"))).To(Succeed())
		for _, name := range []string{opmetrics.TokenReady, opmetrics.TokenExpiration,
			opmetrics.TokenLastSuccess, opmetrics.TokenSyncInterval, opmetrics.TokenState} {
			Eventually(func() map[string]float64 { return w.series(name) }).Should(BeEmpty(), name)
		}
	})

	It("report a failing token as not ready, with no last success, and count the refusal by its code", func() {
		w := newWorld()
		w.createToken("missing", newTokenID())
		w.waitForReason("missing", intunev1alpha1.ReasonTokenNotFound)

		labels := fmt.Sprintf(`{name="missing",namespace=%q,organization=""}`, w.ns)
		Eventually(func() map[string]float64 { return w.series(opmetrics.TokenReady) }).Should(And(
			HaveKeyWithValue(strings.TrimSuffix(labels, "}")+`,status="False"}`, 1.0),
			HaveKeyWithValue(strings.TrimSuffix(labels, "}")+`,status="True"}`, 0.0)))
		Expect(w.series(opmetrics.TokenLastSuccess)).To(BeEmpty(), "it never synced")
		Expect(w.series(opmetrics.TokenExpiration)).To(BeEmpty(), "Graph never said when it expires")
		Expect(w.series(opmetrics.TokenState)).To(BeEmpty(), "Graph never named its state")
		Expect(w.series(opmetrics.TokenSyncInterval)).To(Equal(map[string]float64{labels: 12 * 3600}))
		Expect(w.series(opmetrics.GraphRequestsTotal)).To(HaveKeyWithValue(
			`{code="404",operation="syncLicenses"}`, 1.0))
	})

	It("report the state of a token another MDM holds, which syncs but is not ready", func() {
		id := newTokenID()
		held := validToken(id)
		held.Properties["state"] = "assignedToExternalMDM"
		w := newWorld(held)
		w.createToken("held", id)
		w.waitForReason("held", intunev1alpha1.ReasonAssignedToExternalMDM)

		labels := fmt.Sprintf(`{name="held",namespace=%q,organization="Contoso Ltd"`, w.ns)
		Eventually(func() map[string]float64 { return w.series(opmetrics.TokenState) }).Should(Equal(
			map[string]float64{labels + `,state="assignedToExternalMDM"}`: 1}))
		Expect(w.series(opmetrics.TokenReady)).To(HaveKeyWithValue(labels+`,status="False"}`, 1.0))
		Expect(w.series(opmetrics.TokenLastSuccess)).To(HaveLen(1), "the sync itself succeeded")
	})

	It("report no interval for a suspended token, which has no schedule to miss", func() {
		w := newWorld()
		w.createToken("paused", newTokenID(), func(t *intunev1alpha1.VppToken) { t.Spec.Suspend = true })
		w.waitForReason("paused", intunev1alpha1.ReasonSuspended)

		Eventually(func() map[string]float64 { return w.series(opmetrics.TokenReady) }).Should(HaveKeyWithValue(
			fmt.Sprintf(`{name="paused",namespace=%q,organization="",status="False"}`, w.ns), 1.0))
		Expect(w.series(opmetrics.TokenSyncInterval)).To(BeEmpty())
	})

	It("count a request that got no reply under the code error", func() {
		id := newTokenID()
		w := newWorld(validToken(id))
		w.sim.Inject(graphsim.Fault{Op: graphsim.OpSyncLicenses, Reset: true, Times: 1})
		w.createToken("reset", id)
		w.waitForReason("reset", intunev1alpha1.ReasonGraphUnavailable)

		Expect(w.series(opmetrics.GraphRequestsTotal)).To(HaveKeyWithValue(
			`{code="error",operation="syncLicenses"}`, 1.0))
	})
})

// series gathers the world's metrics and returns each series of the named
// family, keyed by its labels as Prometheus prints them, with the sample's
// value: a gauge's or counter's value, a histogram's count.
func (w *world) series(name string) map[string]float64 {
	GinkgoHelper()
	families, err := w.metrics.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelString(m.GetLabel())] = sampleValue(m)
		}
	}
	return out
}

func labelString(pairs []*dto.LabelPair) string {
	var parts []string
	for _, p := range pairs {
		parts = append(parts, fmt.Sprintf("%s=%q", p.GetName(), p.GetValue()))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	Fail("unexpected metric type")
	return 0
}
