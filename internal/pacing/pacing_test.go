package pacing

import (
	"fmt"
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
	app := App{Cloud: "AzurePublic", TenantID: "tenant", ClientID: "client"}

	// drain runs holders that come back exactly when told, until all have
	// written, and returns the write times and how often each asked.
	drain := func(p *Pacer, apps []App, holders int) (writes []time.Time, asks int) {
		next := make([]time.Time, holders)
		for i := range next {
			next[i] = start
		}
		done := make([]bool, holders)
		for left := holders; left > 0; {
			// the holder due first goes next
			i := -1
			for h := range holders {
				if !done[h] && (i < 0 || next[h].Before(next[i])) {
					i = h
				}
			}
			asks++
			if d := p.Wait(apps[i%len(apps)], fmt.Sprint(i), next[i]); d > 0 {
				next[i] = next[i].Add(d)
				continue
			}
			writes = append(writes, next[i])
			done[i] = true
			left--
		}
		return writes, asks
	}

	maxInWindow := func(writes []time.Time, window time.Duration) int {
		most := 0
		for i := range writes {
			n := 0
			for _, w := range writes {
				if !w.Before(writes[i]) && w.Sub(writes[i]) < window {
					n++
				}
			}
			most = max(most, n)
		}
		return most
	}

	It("spaces one app's writes evenly, never more than its limit in any window, at nearly the full rate", func() {
		p := New(100, 20*time.Second)
		writes, asks := drain(p, []App{app}, 300)
		Expect(writes).To(HaveLen(300))
		Expect(maxInWindow(writes, 20*time.Second)).To(BeNumerically("<=", 100))
		Expect(writes[len(writes)-1].Sub(start)).To(BeNumerically("<", 61*time.Second), "about 99 per 20s")
		Expect(asks).To(BeNumerically("<=", 2*300), "each waiting holder asks once more, when its place comes")
	})

	It("keeps apps, tenants and clouds apart", func() {
		p := New(1, time.Minute)
		Expect(p.Wait(app, "a", start)).To(BeZero())
		Expect(p.Wait(app, "b", start)).NotTo(BeZero())
		Expect(p.Wait(App{Cloud: "AzurePublic", TenantID: "other", ClientID: "client"}, "c", start)).To(BeZero())
		Expect(p.Wait(App{Cloud: "AzurePublic", TenantID: "tenant", ClientID: "second"}, "e", start)).To(BeZero())
		Expect(p.Wait(App{Cloud: "AzurePublic", TenantID: "TENANT", ClientID: "CLIENT"}, "f", start)).NotTo(BeZero(),
			"IDs are case-insensitive")
		Expect(p.Wait(App{Cloud: "AzureChina", TenantID: "tenant", ClientID: "client"}, "d", start)).To(BeZero())
	})

	It("holds a waiting holder's place until it comes back", func() {
		p := New(2, time.Second)
		Expect(p.Wait(app, "first", start)).To(BeZero())
		wait := p.Wait(app, "second", start)
		Expect(wait).To(Equal(time.Second))
		Expect(p.Wait(app, "second", start.Add(wait/2))).To(Equal(wait/2), "asking early keeps the same place")
		Expect(p.Wait(app, "third", start)).To(Equal(2*time.Second), "a later holder queues behind")
		Expect(p.Wait(app, "second", start.Add(wait))).To(BeZero())
	})
})
