package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

// operatorResult is the manager binary's run.
type operatorResult struct {
	ready   int
	readyIn time.Duration
	curve   []time.Duration
	sim     simCounts
	api     apiDelta
	// cpu is the process's CPU time from its start until every token was Ready.
	cpu float64
	// peakRSS is VmHWM; peakHeap the largest go_memstats_heap_inuse_bytes
	// scraped; idleRSS and idleHeap the same of a manager with no tokens.
	peakRSS, peakHeap, idleRSS, idleHeap float64
	restart                              restartResult
}

// restartResult is what a restart of the manager with every token synced costs.
type restartResult struct {
	window time.Duration
	// graphCalls is every request to the simulator within window of the stop.
	graphCalls int
	// requeuedIn is the time from the new process's start until it had
	// reconciled every token to a wait for its next sync.
	requeuedIn       time.Duration
	requeued, errors float64
	done             bool
}

const operatorRun = "op"

func (b *bench) runOperator(ctx context.Context) (operatorResult, error) {
	var res operatorResult
	caFile := filepath.Join(b.work, "graphsim-ca.pem")
	sim, err := b.startSim(caFile)
	if err != nil {
		return res, err
	}
	defer func() { _ = sim.Close() }()
	managers := launcher{binary: b.cfg.manager, kubeconfig: b.kubeconfig, simURL: sim.URL, caFile: caFile}
	logPath := func(name string) string { return filepath.Join(b.cfg.out, "manager-"+name+".log") }

	b.logf("measuring an idle manager (no tokens)")
	if res.idleRSS, res.idleHeap, err = idleManager(ctx, managers, logPath("idle")); err != nil {
		return res, err
	}

	b.logf("creating %d VppTokens in %d namespaces, one Secret each", b.cfg.tokens, b.cfg.tenants)
	if err := b.workload.create(ctx, b.client, operatorRun, nil); err != nil {
		return res, err
	}
	before, err := b.api.scrape(ctx)
	if err != nil {
		return res, err
	}

	b.logf("running the manager binary until every token is Ready")
	mgr, err := managers.start(ctx, logPath("run"))
	if err != nil {
		return res, err
	}
	defer mgr.stop()
	// Times run from the process's start. The tracker lists before it
	// watches, so a token Ready before it begins is still counted.
	trackCtx, stopTracking := context.WithCancel(ctx)
	defer stopTracking()
	tracker := trackReady(trackCtx, b.client, operatorRun, b.cfg.tokens, mgr.started)
	res.ready, err = tracker.wait(ctx, b.cfg.timeout)
	res.curve = tracker.curve()
	if len(res.curve) > 0 {
		res.readyIn = res.curve[len(res.curve)-1]
	}
	if err != nil {
		return res, err
	}
	if res.cpu, err = mgr.cpuSeconds(); err != nil {
		return res, err
	}
	// The events of the last syncs may still be on their way.
	waitFor(ctx, 10*time.Second, func() bool { return sim.Count(graphsim.OpSyncLicenses, "") >= b.cfg.tokens })
	time.Sleep(2 * time.Second)
	after, err := b.api.scrape(ctx)
	if err != nil {
		return res, err
	}
	res.api = diffAPI(before, after)
	res.sim = countRequests(sim.Requests())
	res.peakHeap = mgr.heapPeak()
	if res.peakRSS, err = mgr.memory("VmHWM"); err != nil {
		return res, err
	}

	b.logf("restarting the manager with every token synced")
	res.restart, err = b.restart(ctx, sim, mgr, managers, logPath("restart"))
	return res, err
}

// idleManager runs the manager with no VppTokens until its metrics answer
// and a few samples have passed, and returns its RSS and heap in use.
func idleManager(ctx context.Context, managers launcher, logPath string) (rss, heap float64, err error) {
	mgr, err := managers.start(ctx, logPath)
	if err != nil {
		return 0, 0, err
	}
	defer mgr.stop()
	if !waitFor(ctx, 60*time.Second, mgr.scraped) {
		return 0, 0, fmt.Errorf("the manager's metrics did not answer; see %s", logPath)
	}
	time.Sleep(3 * time.Second)
	rss, err = mgr.memory("VmRSS")
	return rss, mgr.metric("go_memstats_heap_inuse_bytes", nil), err
}

// restart stops the manager as a rollout would and starts a new one; it
// counts every simulator request in the window after the stop, and times the
// new process until it has reconciled every token to a requeue.
func (b *bench) restart(ctx context.Context, sim *graphsim.Server, old *managerProcess, managers launcher,
	logPath string) (restartResult, error) {
	res := restartResult{window: b.cfg.restartWindow}
	seen := len(sim.Requests())
	stopped := time.Now()
	old.stop()

	mgr, err := managers.start(ctx, logPath)
	if err != nil {
		return res, err
	}
	defer mgr.stop()
	labels := map[string]string{"controller": "vpptoken", "result": "requeue_after"}
	res.done = waitFor(ctx, b.cfg.timeout, func() bool {
		return mgr.metric("controller_runtime_reconcile_total", labels) >= float64(b.cfg.tokens) &&
			mgr.metric("workqueue_depth", map[string]string{"name": "vpptoken"}) == 0
	})
	res.requeuedIn = time.Since(mgr.started)
	res.requeued = mgr.metric("controller_runtime_reconcile_total", labels)
	res.errors = mgr.metric("controller_runtime_reconcile_errors_total", map[string]string{"controller": "vpptoken"})

	if rest := time.Until(stopped.Add(res.window)); rest > 0 {
		select {
		case <-time.After(rest):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	for _, r := range sim.Requests()[seen:] {
		if r.Time.Before(stopped.Add(res.window)) {
			res.graphCalls++
		}
	}
	if !res.done {
		return res, fmt.Errorf("the restarted manager reconciled %.0f of %d tokens", res.requeued, b.cfg.tokens)
	}
	return res, nil
}
