package pacing

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPacing(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Pacing")
}

var _ = Describe("Pacer", func() {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

	It("spaces writes evenly, never more than the limit in any window", func() {
		p := New(100, 20*time.Second)
		key := Key("AzurePublic", "tenant", "client")
		var granted []time.Time
		// A client that comes back exactly when told to.
		for now := start; now.Before(start.Add(time.Minute)); {
			if d := p.Take(key, now); d > 0 {
				now = now.Add(d)
				continue
			}
			granted = append(granted, now)
		}
		for i := range granted {
			inWindow := 0
			for _, g := range granted[i:] {
				if g.Sub(granted[i]) < 20*time.Second {
					inWindow++
				}
			}
			Expect(inWindow).To(BeNumerically("<=", 100), "window from write %d", i)
		}
		Expect(len(granted)).To(BeNumerically(">=", 3*99), "nearly the full rate")
	})

	It("claims nothing when it says wait", func() {
		p := New(2, time.Second)
		key := Key("AzurePublic", "t", "c")
		Expect(p.Take(key, start)).To(BeZero())
		for i := 0; i < 5; i++ {
			Expect(p.Take(key, start)).To(Equal(time.Second))
		}
		Expect(p.Take(key, start.Add(time.Second))).To(BeZero())
	})

	It("keeps apps, tenants and clouds apart", func() {
		p := New(1, time.Minute)
		Expect(p.Take(Key("AzurePublic", "t1", "c"), start)).To(BeZero())
		Expect(p.Take(Key("AzurePublic", "t1", "c"), start)).NotTo(BeZero())
		Expect(p.Take(Key("AzurePublic", "t2", "c"), start)).To(BeZero())
		Expect(p.Take(Key("AzurePublic", "t1", "c2"), start)).To(BeZero())
		Expect(p.Take(Key("AzureChina", "t1", "c"), start)).To(BeZero())
		Expect(Key("AzurePublic", "T1", "C")).To(Equal(Key("AzurePublic", "t1", "c")), "IDs are case-insensitive")
	})
})
