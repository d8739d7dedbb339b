package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/controllers"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
)

// steadyInterval is the shortest sync interval the API allows, which makes
// the most syncs per simulated hour.
const steadyInterval = 15 * time.Minute

// steadyResult is the simulated hour.
type steadyResult struct {
	tokens   int
	period   time.Duration
	realTime time.Duration
	// calls are the syncLicenses calls in the period; intervals the sync
	// intervals that came due in it; extra the calls less than an interval
	// after the token's previous one; missed the intervals with no call
	// (a gap of two intervals, or an overdue token at the end).
	calls, intervals, extra, missed int
	minGap, maxGap                  time.Duration
	perToken                        [2]int // fewest and most calls of one token
	sim                             simCounts
	api                             apiDelta
}

func (s *steadyResult) callsPerInterval() float64 {
	if s.intervals == 0 {
		return 0
	}
	return float64(s.calls) / float64(s.intervals)
}

const steadyRun = "steady"

// runSteady runs the controllers package's reconciler in this process, wired
// as main.go wires it but on a simulated clock that drives both the
// reconciler's schedule and the work queue's requeues. The clock keeps pace
// with real time, so that pacing and Graph's limits (both real-time) see
// what they would, and jumps ahead whenever no token is due: an hour of
// 15-minute intervals passes in a few minutes.
func (b *bench) runSteady(ctx context.Context) (*steadyResult, error) {
	res := &steadyResult{tokens: b.cfg.steadyTokens, period: b.cfg.steadyPeriod}
	w := newWorkload(b.cfg.steadyTokens, min(b.cfg.tenants, b.cfg.steadyTokens))
	sim, err := b.startSimFor(w, "")
	if err != nil {
		return nil, err
	}
	defer func() { _ = sim.Close() }()

	b.logf("creating %d VppTokens with a %s interval for the simulated hour", res.tokens, steadyInterval)
	if err := w.create(ctx, b.client, steadyRun, &metav1.Duration{Duration: steadyInterval}); err != nil {
		return nil, err
	}
	clock := clocktesting.NewFakeClock(time.Now())
	stopPace := keepPace(clock)
	defer stopPace()
	calls := &callLog{clock: clock, at: map[string][]time.Time{}}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	schedule := watchSchedule(watchCtx, b.client, steadyRun)

	logFile, err := os.Create(filepath.Join(b.cfg.out, "manager-steady.log"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }()
	mgrCtx, stopManager := context.WithCancel(ctx)
	done, err := b.startInProcess(mgrCtx, w, sim.URL, sim.CertPool(), clock, calls, logFile)
	if err != nil {
		stopManager()
		return nil, err
	}
	defer func() { stopManager(); <-done }()

	b.logf("waiting for the first sync of every token")
	if !waitFor(ctx, b.cfg.timeout, func() bool { return schedule.syncedCount() == res.tokens }) {
		return nil, fmt.Errorf("%d of %d tokens synced at the start", schedule.syncedCount(), res.tokens)
	}
	before, err := b.api.scrape(ctx)
	if err != nil {
		return nil, err
	}
	seen := len(sim.Requests())
	start := clock.Now()
	end := start.Add(res.period)
	anchors := calls.snapshot()

	b.logf("simulating %s in steps of at least %s", res.period, b.cfg.steadyStep)
	realStart := time.Now()
	deadline := realStart.Add(b.cfg.timeout)
	for clock.Now().Before(end) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("the simulated hour did not finish in %s; at %s", b.cfg.timeout,
				clock.Now().Sub(start))
		}
		next, due := schedule.earliest(clock.Now())
		if due {
			time.Sleep(20 * time.Millisecond) // work in flight: let it finish
			continue
		}
		// Nothing due: jump to just after the next due sync, gathering the
		// syncs due within a step into one batch, as a busy operator would.
		target := next.Add(b.cfg.steadyStep)
		if target.After(end) {
			target = end
		}
		if d := target.Sub(clock.Now()); d > 0 {
			clock.Step(d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The syncs due at the very end run out before the counts are taken.
	waitFor(ctx, b.cfg.timeout, func() bool { _, due := schedule.earliest(clock.Now()); return !due })
	res.realTime = time.Since(realStart)
	after, err := b.api.scrape(ctx)
	if err != nil {
		return nil, err
	}
	res.api = diffAPI(before, after)
	res.sim = countRequests(sim.Requests()[seen:])
	res.tally(anchors, calls.snapshot(), start, end)
	return res, nil
}

// tally counts calls, intervals, extra calls and missed intervals per token
// from the call times in simulated time.
func (s *steadyResult) tally(anchors, all map[string][]time.Time, start, end time.Time) {
	s.minGap, s.perToken = time.Duration(1<<62), [2]int{1 << 30, 0}
	for id, times := range all {
		prev := start
		if a := anchors[id]; len(a) > 0 {
			prev = a[len(a)-1]
		}
		n := 0
		for _, t := range times {
			if !t.After(start) || t.After(end) {
				continue
			}
			gap := t.Sub(prev)
			s.minGap, s.maxGap = min(s.minGap, gap), max(s.maxGap, gap)
			switch {
			case gap < steadyInterval-time.Second: // status keeps whole seconds
				s.extra++
			case gap >= 2*steadyInterval:
				s.missed += int(gap / steadyInterval)
			}
			n++
			prev = t
		}
		if end.Sub(prev) >= 2*steadyInterval {
			s.missed++
		}
		s.calls += n
		s.perToken[0], s.perToken[1] = min(s.perToken[0], n), max(s.perToken[1], n)
	}
	s.intervals = s.calls - s.extra + s.missed
}

// startInProcess runs a manager with the controllers package's reconciler on
// the simulated clock, limited to the steady run's namespaces, until ctx ends.
func (b *bench) startInProcess(ctx context.Context, w *workload, simURL string, certPool *x509.CertPool,
	clock *clocktesting.FakeClock, calls *callLog, logFile *os.File) (<-chan struct{}, error) {
	namespaces := map[string]cache.Config{}
	for i := range w.tenants {
		namespaces[namespace(steadyRun, i)] = cache.Config{}
	}
	logger := zap.New(zap.WriteTo(logFile))
	ctrl.SetLogger(logger)
	mgr, err := ctrl.NewManager(b.restConfig, ctrl.Options{
		Scheme:                 b.scheme,
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: namespaces},
	})
	if err != nil {
		return nil, err
	}
	r := &controllers.VppTokenReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("vpp-operator"),
		Clock:     clock,
		Pacer:     pacing.New(pacing.DefaultLimit, pacing.DefaultWindow),
		Graph: &recordingSyncer{calls: calls, next: graph.NewClient(graph.Options{
			Hosts: graph.Hosts{GraphEndpoint: simURL, AuthorityHost: simURL},
			Transport: &http.Transport{Proxy: nil,
				TLSClientConfig: &tls.Config{RootCAs: certPool, MinVersion: tls.VersionTLS12}},
			UserAgent: "vpp-operator/bench-steady",
		})},
	}
	opts := controller.Options{
		MaxConcurrentReconciles: concurrency,
		SkipNameValidation:      ptr.To(true),
		// controller-runtime's priority queue has no clock to inject; the
		// classic rate-limited queue does, and requeues on it.
		NewQueue: func(name string, rl workqueue.TypedRateLimiter[request]) workqueue.TypedRateLimitingInterface[request] {
			return workqueue.NewTypedRateLimitingQueueWithConfig(rl,
				workqueue.TypedRateLimitingQueueConfig[request]{Name: name, Clock: clock})
		},
	}
	if err := r.SetupWithManager(ctx, mgr, opts); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(logFile, "manager stopped:", err)
		}
	}()
	return done, nil
}

type request = reconcile.Request

// keepPace moves the simulated clock on with real time, every 10ms, until
// the returned function is called.
func keepPace(clock *clocktesting.FakeClock) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		last := time.Now()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				clock.Step(now.Sub(last))
				last = now
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// callLog records each syncLicenses call's simulated time, by token ID.
type callLog struct {
	clock *clocktesting.FakeClock
	mu    sync.Mutex
	at    map[string][]time.Time
}

func (l *callLog) add(tokenID string) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at[tokenID] = append(l.at[tokenID], now)
}

func (l *callLog) snapshot() map[string][]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]time.Time, len(l.at))
	for id, times := range l.at {
		out[id] = slices.Clone(times)
	}
	return out
}

// recordingSyncer notes the simulated time of every syncLicenses call the
// reconciler makes, then makes it.
type recordingSyncer struct {
	calls *callLog
	next  controllers.LicenseSyncer
}

func (s *recordingSyncer) SyncLicenses(ctx context.Context, t graph.Target) (*graph.SyncResult, error) {
	s.calls.add(t.TokenID)
	return s.next.SyncLicenses(ctx, t)
}

func (s *recordingSyncer) GetVppToken(ctx context.Context, t graph.Target) (*graph.SyncResult, error) {
	return s.next.GetVppToken(ctx, t)
}

// scheduleWatch keeps each token's planned next sync, from a watch.
type scheduleWatch struct {
	mu     sync.Mutex
	next   map[string]time.Time // by namespace/name; absent until first attempted
	synced map[string]bool      // tokens that have synced at least once
}

func watchSchedule(ctx context.Context, c client.WithWatch, run string) *scheduleWatch {
	s := &scheduleWatch{next: map[string]time.Time{}, synced: map[string]bool{}}
	watchTokens(ctx, c, run, s.observe)
	return s
}

func (s *scheduleWatch) observe(tok *intunev1alpha1.VppToken) {
	if tok.Status.NextSyncTime == nil {
		return
	}
	key := tok.Namespace + "/" + tok.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next[key] = tok.Status.NextSyncTime.Time
	if meta.IsStatusConditionTrue(tok.Status.Conditions, intunev1alpha1.ConditionSynced) {
		s.synced[key] = true
	}
}

// syncedCount is how many tokens have synced at least once.
func (s *scheduleWatch) syncedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.synced)
}

// earliest is the soonest planned sync, and whether it is due at now.
func (s *scheduleWatch) earliest(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, t := range s.next {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero() && !first.After(now)
}
