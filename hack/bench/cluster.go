package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
)

// metricFamilies reads a Prometheus text exposition.
func metricFamilies(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// sum adds up the samples of a counter or gauge whose labels include every
// pair given.
func sum(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// apiCounts are the API server's own counters that the report uses, from its
// /metrics: requests by verb, resource and subresource, and the watch events
// it sent for VppTokens.
type apiCounts struct {
	requests    map[string]float64 // "VERB resource[/subresource]"
	watchEvents float64
}

// apiWriteVerbs are the verbs of apiserver_request_total that change objects.
var apiWriteVerbs = []string{"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE"}

func scrapeAPIServer(ctx context.Context, hc *http.Client, host string) (apiCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/metrics", nil)
	if err != nil {
		return apiCounts{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return apiCounts{}, fmt.Errorf("scraping the API server: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return apiCounts{}, fmt.Errorf("scraping the API server: %s", resp.Status)
	}
	fams, err := metricFamilies(resp.Body)
	if err != nil {
		return apiCounts{}, err
	}
	c := apiCounts{requests: map[string]float64{}}
	for _, m := range fams["apiserver_request_total"].GetMetric() {
		var verb, resource, sub string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "verb":
				verb = l.GetValue()
			case "resource":
				resource = l.GetValue()
			case "subresource":
				sub = l.GetValue()
			}
		}
		key := verb + " " + resource
		if sub != "" {
			key += "/" + sub
		}
		c.requests[key] += m.GetCounter().GetValue()
	}
	for _, m := range fams["apiserver_watch_events_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if (l.GetName() == "group" && l.GetValue() == intunev1alpha1.GroupVersion.Group) ||
				(l.GetName() == "kind" && strings.Contains(strings.ToLower(l.GetValue()), "vpptoken")) {
				c.watchEvents += m.GetCounter().GetValue()
				break
			}
		}
	}
	return c, nil
}

// apiDelta is what happened at the API server between two scrapes.
type apiDelta struct {
	statusPatches float64 // PATCH vpptokens/status
	eventWrites   float64 // writes of events, either API group
	// otherWrites are any other writes but the leases, which are the API
	// server's own heartbeat, as the manager runs without leader election.
	otherWrites map[string]float64
	reads       float64 // GET, LIST and WATCH requests of every resource
	readsByKey  map[string]float64
	watchEvents float64 // VppToken watch events sent to every watcher
}

// writes are the writes of the client under test: all but the leases.
func (a apiDelta) writes() float64 {
	n := a.statusPatches + a.eventWrites
	for _, v := range a.otherWrites {
		n += v
	}
	return n
}

func diffAPI(before, after apiCounts) apiDelta {
	d := apiDelta{otherWrites: map[string]float64{}, readsByKey: map[string]float64{},
		watchEvents: after.watchEvents - before.watchEvents}
	for key, v := range after.requests {
		n := v - before.requests[key]
		if n == 0 {
			continue
		}
		verb, resource, _ := strings.Cut(key, " ")
		switch {
		case !slices.Contains(apiWriteVerbs, verb):
			d.reads += n
			d.readsByKey[key] += n
		case resource == "vpptokens/status" && verb == "PATCH":
			d.statusPatches += n
		case resource == "events":
			d.eventWrites += n
		case resource == "leases":
			// The API server's heartbeat, not the client's writes.
		default:
			d.otherWrites[key] += n
		}
	}
	return d
}

// apiServer scrapes the API server with the admin's credentials.
type apiServer struct {
	hc   *http.Client
	host string
}

func newAPIServer(cfg *rest.Config) (*apiServer, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &apiServer{hc: hc, host: strings.TrimSuffix(cfg.Host, "/")}, nil
}

func (a *apiServer) scrape(ctx context.Context) (apiCounts, error) {
	return scrapeAPIServer(ctx, a.hc, a.host)
}

// readyTracker watches one run's VppTokens and notes when each first had
// Ready True, measured from start.
type readyTracker struct {
	start time.Time

	mu      sync.Mutex
	want    int
	readyAt map[string]time.Duration
	// all is closed once want tokens are Ready.
	all chan struct{}
}

// trackReady notes when each of the run's tokens is first seen Ready, until ctx ends.
func trackReady(ctx context.Context, c client.WithWatch, run string, want int, start time.Time) *readyTracker {
	t := &readyTracker{want: want, start: start, readyAt: map[string]time.Duration{}, all: make(chan struct{})}
	watchTokens(ctx, c, run, t.observe)
	return t
}

// watchTokens calls observe with each of the run's tokens as it is listed and as it changes,
// until ctx ends. It lists before it watches, and lists again whenever the API server ends the
// watch.
func watchTokens(ctx context.Context, c client.WithWatch, run string, observe func(*intunev1alpha1.VppToken)) {
	go func() {
		for ctx.Err() == nil {
			if err := listAndWatch(ctx, c, run, observe); err != nil && ctx.Err() == nil {
				time.Sleep(time.Second)
			}
		}
	}()
}

func listAndWatch(ctx context.Context, c client.WithWatch, run string, observe func(*intunev1alpha1.VppToken)) error {
	var list intunev1alpha1.VppTokenList
	if err := c.List(ctx, &list, client.MatchingLabels{runLabel: run}); err != nil {
		return err
	}
	for i := range list.Items {
		observe(&list.Items[i])
	}
	w, err := c.Watch(ctx, &intunev1alpha1.VppTokenList{}, client.MatchingLabels{runLabel: run},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return fmt.Errorf("watch error")
		}
		if tok, ok := ev.Object.(*intunev1alpha1.VppToken); ok {
			observe(tok)
		}
	}
	return nil
}

func (t *readyTracker) observe(tok *intunev1alpha1.VppToken) {
	if !meta.IsStatusConditionTrue(tok.Status.Conditions, intunev1alpha1.ConditionReady) {
		return
	}
	key := tok.Namespace + "/" + tok.Name
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.readyAt[key]; seen {
		return
	}
	t.readyAt[key] = time.Since(t.start)
	t.closeIfAll()
}

// setWant changes how many tokens wait waits for.
func (t *readyTracker) setWant(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = n
	t.closeIfAll()
}

// closeIfAll closes all when want tokens are Ready; t.mu must be held.
func (t *readyTracker) closeIfAll() {
	select {
	case <-t.all:
		return // closed already
	default:
	}
	if len(t.readyAt) >= t.want {
		close(t.all)
	}
}

// wait waits until every token is Ready, or the deadline, and returns how
// many are.
func (t *readyTracker) wait(ctx context.Context, deadline time.Duration) (int, error) {
	select {
	case <-t.all:
	case <-time.After(deadline):
	case <-ctx.Done():
		return t.count(), ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.readyAt)
	if n < t.want {
		return n, fmt.Errorf("%d of %d tokens Ready after %s", n, t.want, deadline)
	}
	return n, nil
}

func (t *readyTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.readyAt)
}

// curve is the times at which tokens became Ready, in order.
func (t *readyTracker) curve() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, 0, len(t.readyAt))
	for _, d := range t.readyAt {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// loopbackClient reaches the manager's metrics endpoint directly, never
// through a proxy.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// scrapeText GETs a plain-HTTP metrics endpoint on the loopback interface.
func scrapeText(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return metricFamilies(bytes.NewReader(body))
}
