package main

import (
	"flag"
	"io"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestManager(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager")
}

var _ = Describe("Manager flags", func() {
	parse := func(args ...string) (*config, error) {
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseFlags(fs, args)
	}

	It("default to the cloud's hosts, ten workers and a 30s request limit", func() {
		c, err := parse()
		Expect(err).NotTo(HaveOccurred())
		Expect(c.graphEndpoint).To(BeEmpty())
		Expect(c.authorityHost).To(BeEmpty())
		Expect(c.maxConcurrentReconciles).To(Equal(10))
		Expect(c.graphTimeout).To(Equal(30 * time.Second))
		Expect(c.metricsAddr).To(Equal("0"))
		Expect(c.metricsSecure).To(BeTrue(), "metrics need authentication unless asked otherwise")
		Expect(metricsOptions(c).FilterProvider).NotTo(BeNil())
		Expect(c.probeAddr).To(Equal(":8081"))
		Expect(c.leaderElect).To(BeFalse())
		Expect(c.appWriteLimit).To(Equal(100))
		Expect(c.appWriteWindow).To(Equal(20 * time.Second))
		Expect(c.expiryWarning).To(Equal(30 * 24 * time.Hour))
	})

	It("serve plain, unauthenticated metrics only when asked", func() {
		c, err := parse("--metrics-secure=false", "--metrics-bind-address=127.0.0.1:8080")
		Expect(err).NotTo(HaveOccurred())
		opts := metricsOptions(c)
		Expect(opts.SecureServing).To(BeFalse())
		Expect(opts.FilterProvider).To(BeNil())
		Expect(opts.BindAddress).To(Equal("127.0.0.1:8080"))
	})

	It("normalise host overrides", func() {
		c, err := parse("--graph-endpoint=https://127.0.0.1:8443/", "--authority-host=https://login.proxy.example")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.graphEndpoint).To(Equal("https://127.0.0.1:8443"))
		Expect(c.authorityHost).To(Equal("https://login.proxy.example"))
	})

	It("read a namespace list, dropping repeats and spaces", func() {
		c, err := parse("--namespaces= team-a,team-b ,team-a")
		Expect(err).NotTo(HaveOccurred())
		Expect(c.namespaces).To(Equal([]string{"team-a", "team-b"}))
		Expect(cacheOptions(c.namespaces).DefaultNamespaces).To(HaveLen(2))
		Expect(cacheOptions(nil).DefaultNamespaces).To(BeNil(), "no list watches the whole cluster")
	})

	DescribeTable("reject values that cannot work, naming the flag",
		func(args []string, problem string) {
			_, err := parse(args...)
			Expect(err).To(MatchError(ContainSubstring(problem)))
		},
		Entry("plain http Graph", []string{"--graph-endpoint=http://graph.example"}, "--graph-endpoint"),
		Entry("a bare host name", []string{"--authority-host=login.example"}, "--authority-host"),
		Entry("no workers", []string{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles"),
		Entry("no time limit", []string{"--graph-request-timeout=0s"}, "--graph-request-timeout"),
		Entry("an unknown flag", []string{"--graph-url=https://x"}, "graph-url"),
		Entry("no writes", []string{"--app-write-limit=0"}, "--app-write-limit"),
		Entry("a negative warning window", []string{"--expiry-warning=-1h"}, "--expiry-warning"),
		Entry("a namespace that is not a name", []string{"--namespaces=team-a,Team_B"}, `--namespaces: "Team_B"`),
		Entry("an empty namespace in a list", []string{"--namespaces=team-a,,team-b"}, `--namespaces: ""`),
		Entry("a word that is not a flag, which would hide the flags after it",
			[]string{"--zap-devel", "false", "--namespaces=team-a"}, `unexpected argument "false"`),
	)
})
