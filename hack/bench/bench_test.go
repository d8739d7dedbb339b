package main

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestBench(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Scale benchmark")
}

// The benchmark in a tiny configuration, so that it keeps working: every
// count it reports that must hold exactly is checked; no duration is.
var _ = Describe("The benchmark, with 50 tokens over 3 tenants", Ordered, func() {
	const tokens, tenants = 50, 3
	var (
		res *results
		out string
	)

	BeforeAll(func() {
		work := GinkgoT().TempDir()
		out = filepath.Join(work, "results")
		By("building the manager")
		binary := filepath.Join(work, "manager")
		build := exec.Command("go", "build", "-o", binary, ".")
		build.Dir = filepath.Join("..", "..")
		built, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(built))

		By("running every part of the benchmark")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		DeferCleanup(cancel)
		res, err = run(ctx, config{
			tokens: tokens, tenants: tenants, latency: 20 * time.Millisecond, jitter: 5 * time.Millisecond,
			manager: binary, crds: filepath.Join("..", "..", "config", "crd", "bases"), out: out,
			timeout: 3 * time.Minute, baselineSleep: time.Second, restartWindow: 5 * time.Second,
			steadyTokens: tokens, steadyPeriod: time.Hour, steadyStep: 10 * time.Second,
			progress: GinkgoWriter,
		})
		Expect(err).NotTo(HaveOccurred(), "start the control plane; run `make envtest` and set KUBEBUILDER_ASSETS")
	})

	It("syncs every token once through the operator, with one sign-in per tenant and no 429", func() {
		op := res.operator
		Expect(op.ready).To(Equal(tokens))
		Expect(op.sim.posts).To(Equal(tokens))
		Expect(op.sim.tokenRequests).To(Equal(tenants))
		Expect(op.sim.throttled).To(BeZero())
		Expect(op.api.statusPatches).To(BeNumerically("==", tokens), "one status write per sync")
		Expect(op.api.otherWrites).To(BeEmpty())
		Expect(op.peakRSS).To(BeNumerically(">", 0))
		Expect(op.peakHeap).To(BeNumerically(">", 0))
		Expect(op.cpu).To(BeNumerically(">", 0))
	})

	It("makes no Graph call after a restart, and requeues every token", func() {
		rs := res.operator.restart
		Expect(rs.graphCalls).To(BeZero())
		Expect(rs.done).To(BeTrue())
		Expect(rs.requeued).To(BeNumerically(">=", tokens))
		Expect(rs.errors).To(BeZero())
	})

	It("makes one call per token per interval in the simulated hour", func() {
		s := res.steady
		Expect(s).NotTo(BeNil())
		Expect(s.extra).To(BeZero(), "no token synced twice in an interval")
		Expect(s.missed).To(BeZero(), "no interval without a sync")
		Expect(s.calls).To(BeNumerically(">=", tokens*3), "an hour holds three or four 15-minute intervals")
		Expect(s.callsPerInterval()).To(Equal(1.0))
		Expect(s.sim.throttled).To(BeZero())
		Expect(s.api.statusPatches).To(BeNumerically("==", s.calls))
	})

	It("runs the baseline to the end, with a sign-in for every call", func() {
		base := res.baseline
		Expect(base).NotTo(BeNil())
		Expect(base.failures).To(BeZero())
		Expect(base.ready).To(Equal(tokens))
		Expect(base.sim.posts).To(Equal(tokens + base.sim.throttled))
		Expect(base.sim.tokenRequests).To(Equal(base.sim.posts))
	})

	It("writes the report and a chart that decodes", func() {
		report, err := os.ReadFile(filepath.Join(out, res.name()+".md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(report)).To(ContainSubstring("| Graph `syncLicenses` POSTs | 50 | 50 | 50 |"))
		Expect(string(report)).To(ContainSubstring("![Tokens Ready over time](" + res.name() + ".png)"))
		Expect(string(report)).To(ContainSubstring("3 tenants with one app registration each and 16 or 17 tokens each"))
		latest, err := os.ReadFile(filepath.Join(out, "latest.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(latest).To(Equal(report))

		f, err := os.Open(filepath.Join(out, res.name()+".png"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		img, err := png.Decode(f)
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Bounds().Dx()).To(BeNumerically(">=", 800))
	})
})

var _ = Describe("The benchmark's flags", func() {
	It("default to 2,000 tokens over 40 tenants, and repeat only what a run changed", func() {
		c, err := parseConfig(nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.tokens).To(Equal(2000))
		Expect(c.tenants).To(Equal(40))
		Expect(c.steadyTokens).To(Equal(2000), "0 means -tokens")
		Expect(c.extraFlags).To(BeEmpty())

		c, err = parseConfig([]string{"-tokens", "500", "-tenants", "10", "-skip-baseline",
			"-steady-period", "2h", "-out", "trial-results"})
		Expect(err).NotTo(HaveOccurred())
		Expect((&results{cfg: c}).flags()).To(Equal(
			"-tokens 500 -tenants 10 -latency 150ms -jitter 50ms -skip-baseline=true -steady-period=2h0m0s"),
			"the output folder is this machine's, not part of the run")
	})

	DescribeTable("refuse values that would hang the run, exhaust the machine or skew its figures",
		func(problem string, args ...string) {
			_, err := parseConfig(args)
			Expect(err).To(MatchError(ContainSubstring(problem)))
		},
		Entry("a stray word, which would hide the flags after it", `unexpected argument "stray"`,
			"stray", "-tokens", "6"),
		Entry("make's syntax instead of a flag", `unexpected argument "tokens=500"`, "tokens=500"),
		Entry("more tenants than tokens", "-tokens must be at least -tenants", "-tokens", "3", "-tenants", "4"),
		Entry("more tokens than the machine holds", "-tokens must be at most 100000",
			"-tokens", "30000000", "-tenants", "20000"),
		Entry("more tokens per tenant than Intune allows", "Intune's 3000 tokens per tenant",
			"-tokens", "3001", "-tenants", "1"),
		Entry("a negative steady-state size", "-steady-tokens must be between 1 and", "-steady-tokens", "-5"),
		Entry("a negative latency", "must not be negative", "-latency", "-100ms"),
		Entry("jitter beyond the latency, which would make delays negative", "-jitter at most -latency",
			"-latency", "100ms", "-jitter", "300ms"),
		Entry("no time limit", "-timeout must be positive", "-timeout", "0s"),
		Entry("a negative restart window", "-restart-window must be positive", "-restart-window", "-5s"),
		Entry("a steady state shorter than an interval", "-steady-period must be at least", "-steady-period", "0s"),
		Entry("a clock that never advances", "-steady-step must be positive", "-steady-step", "-1h"),
	)
})
