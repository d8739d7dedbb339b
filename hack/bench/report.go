package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine is where a run happened.
type machine struct {
	cpu, kernel, goVersion string
	cores                  int
	memory                 float64 // bytes
	loadBefore, loadAfter  string
}

func describeMachine() machine {
	m := machine{cores: runtime.NumCPU(), goVersion: runtime.Version(), cpu: "unknown", kernel: "unknown"}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(raw), "MemTotal: %f kB", &kb); err == nil {
			m.memory = kb * 1024
		}
	}
	m.loadBefore = loadAverage()
	return m
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// name is the report's file name stem: the date and the workload.
func (r *results) name() string {
	return fmt.Sprintf("%s-N%d-T%d", r.started.UTC().Format("2006-01-02"), r.cfg.tokens, r.cfg.tenants)
}

// writeOutputs writes the chart and the report, and copies the report to
// latest.md.
func writeOutputs(r *results) error {
	r.machine.loadAfter = loadAverage()
	runs := []series{{name: "operator (manager binary)", color: operatorColor, ready: r.operator.curve}}
	if r.baseline != nil {
		runs = append(runs, series{name: "baseline script", color: baselineColor, ready: r.baseline.curve})
	}
	png := r.name() + ".png"
	if err := chart(filepath.Join(r.cfg.out, png), r.cfg.tokens, r.floor, runs); err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	report := r.markdown(png)
	if err := os.WriteFile(filepath.Join(r.cfg.out, r.name()+".md"), []byte(report), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.cfg.out, "latest.md"), []byte(report), 0o644)
}

func (r *results) markdown(png string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	c, op := r.cfg, r.operator
	n := float64(c.tokens)
	byLatency, byRate := c.floorTerms(r.busiest)

	p("# Scale benchmark: %d tokens over %d tenants", c.tokens, c.tenants)
	p("")
	p("Run %s UTC with `go run ./hack/bench %s` (about %s in all).",
		r.started.UTC().Format("2006-01-02 15:04"), r.flags(), r.elapsed.Round(time.Second))
	p("")
	p("![Tokens Ready over time](%s)", png)
	p("")
	p("## Figures")
	p("")
	p("The floor is the larger of N × latency / workers (%d × %s / %d = %s) and the busiest tenant's "+
		"tokens at one app's write rate (%d / (100 per 20 s) = %s): **%s**.",
		c.tokens, c.latency, concurrency, byLatency.Round(time.Millisecond),
		r.busiest, byRate.Round(time.Millisecond), r.floor.Round(time.Millisecond))
	p("")
	base := r.baseline
	col := func(f func(*baselineResult) string) string {
		if base == nil {
			return "not run"
		}
		return f(base)
	}
	ratio := func(f func(*baselineResult) float64, opValue float64) string {
		if base == nil || opValue == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f×", f(base)/opValue)
	}
	p("| figure | target | operator | baseline | baseline ÷ operator |")
	p("|---|---|---|---|---|")
	p("| time until all %d are Ready | floor %s | %s | %s | %s |", c.tokens, secs(r.floor), secs(op.readyIn),
		col(func(x *baselineResult) string { return secs(x.readyIn) }),
		ratio(func(x *baselineResult) float64 { return x.readyIn.Seconds() }, op.readyIn.Seconds()))
	p("| … as a multiple of the floor | at most 1.25 | %.2f | %s | |", op.readyIn.Seconds()/r.floor.Seconds(),
		col(func(x *baselineResult) string { return fmt.Sprintf("%.2f", x.readyIn.Seconds()/r.floor.Seconds()) }))
	p("| tokens Ready | %d | %d | %s | |", c.tokens, op.ready,
		col(func(x *baselineResult) string { return fmt.Sprint(x.ready) }))
	p("| Graph `syncLicenses` POSTs | %d | %d | %s | %s |", c.tokens, op.sim.posts,
		col(func(x *baselineResult) string { return fmt.Sprint(x.sim.posts) }),
		ratio(func(x *baselineResult) float64 { return float64(x.sim.posts) }, float64(op.sim.posts)))
	p("| 429s received | 0 | %d | %s | |", op.sim.throttled,
		col(func(x *baselineResult) string { return fmt.Sprint(x.sim.throttled) }))
	p("| token requests (client credentials) | %d | %d | %s | %s |", c.tenants, op.sim.tokenRequests,
		col(func(x *baselineResult) string { return fmt.Sprint(x.sim.tokenRequests) }),
		ratio(func(x *baselineResult) float64 { return float64(x.sim.tokenRequests) }, float64(op.sim.tokenRequests)))
	p("| other identity and Graph requests (discovery, GET) | | %d | %s | |", op.sim.discovery+op.sim.gets+op.sim.other,
		col(func(x *baselineResult) string { return fmt.Sprint(x.sim.discovery + x.sim.gets + x.sim.other) }))
	p("| API server writes per sync | 1 | %s | %s | |", perSync(op.api.writes(), op.sim.posts),
		col(func(x *baselineResult) string { return perSync(x.api.writes(), x.ready) }))
	p("| … of them `vpptokens/status` patches | 1 | %s | %s | |", perSync(op.api.statusPatches, op.sim.posts),
		col(func(x *baselineResult) string { return perSync(x.api.statusPatches, x.ready) }))
	p("| … of them event writes | | %s | %s | |", perSync(op.api.eventWrites, op.sim.posts),
		col(func(x *baselineResult) string { return perSync(x.api.eventWrites, x.ready) }))
	p("| API server reads per sync (GET, LIST, WATCH) | | %s | %s | |", perSync(op.api.reads, op.sim.posts),
		col(func(x *baselineResult) string { return perSync(x.api.reads, x.ready) }))
	p("| VppToken watch events sent per sync, to every watcher | | %s | %s | |",
		perSync(op.api.watchEvents, op.sim.posts),
		col(func(x *baselineResult) string { return perSync(x.api.watchEvents, x.ready) }))
	p("| manager peak RSS (VmHWM) | | %s | | |", mib(op.peakRSS))
	p("| manager peak heap in use | | %s | | |", mib(op.peakHeap))
	p("| memory per token: (peak − idle) ÷ N, RSS / heap | | %s / %s | | |",
		kib((op.peakRSS-op.idleRSS)/n), kib((op.peakHeap-op.idleHeap)/n))
	p("| CPU seconds per 1,000 syncs | | %.2f | | |", op.cpu/n*1000)
	p("")
	p("The operator's reads: %s.", formatCounts(op.api.readsByKey))
	if len(op.api.otherWrites) > 0 {
		p("Other writes during the operator's run: %s.", formatCounts(op.api.otherWrites))
	}
	p("")
	p("## Restart")
	p("")
	rs := op.restart
	p("With every token synced, the manager got SIGTERM and a new process started at once.")
	p("")
	p("| figure | target | measured |")
	p("|---|---|---|")
	p("| Graph and identity requests within %s of the stop | 0 | %d |", rs.window, rs.graphCalls)
	p("| time from the new process's start until every token was reconciled and requeued for its next sync | | %s |",
		secs(rs.requeuedIn))
	p("| reconciles ending in a requeue for the remaining time / errors | ≥ %d / 0 | %.0f / %.0f |",
		c.tokens, rs.requeued, rs.errors)
	if s := r.steady; s != nil {
		p("")
		p("## Steady state: %s simulated", s.period)
		p("")
		p("%d tokens with `syncInterval: %s` (the API's minimum), synced once, then %s of simulated time "+
			"in %s of real time (see Method).", s.tokens, steadyInterval, s.period, s.realTime.Round(time.Second))
		p("")
		p("| figure | target | measured |")
		p("|---|---|---|")
		p("| `syncLicenses` calls per token per interval | 1 | %.3f |", s.callsPerInterval())
		p("| calls / intervals due / calls within an interval of the last / intervals without a call | "+
			"| %d / %d / %d / %d |", s.calls, s.intervals, s.extra, s.missed)
		p("| calls of one token in the period, fewest–most | %d–%d | %d–%d |",
			int(s.period/(steadyInterval*11/10)), int(s.period/steadyInterval), s.perToken[0], s.perToken[1])
		p("| gap between a token's calls, shortest–longest | %s–%s plus a step | %s–%s |",
			steadyInterval, steadyInterval*11/10, s.minGap.Round(time.Second), s.maxGap.Round(time.Second))
		p("| 429s / token requests / GETs in the period | 0 / ≤ %d / 0 | %d / %d / %d |", c.tenants,
			s.sim.throttled, s.sim.tokenRequests, s.sim.gets)
		p("| API server writes per sync | 1 | %s |", perSync(s.api.writes(), s.calls))
	}
	p("")
	p("## Machine")
	p("")
	p("| | |")
	p("|---|---|")
	p("| CPU | %s, %d cores |", r.machine.cpu, r.machine.cores)
	p("| memory | %s |", gib(r.machine.memory))
	p("| kernel | %s |", r.machine.kernel)
	p("| Go | %s |", r.machine.goVersion)
	p("| load average (1, 5, 15 min) before / after | %s / %s |", r.machine.loadBefore, r.machine.loadAfter)
	p("")
	p("## Method")
	p("")
	r.method(p)
	return b.String()
}

func (r *results) method(p func(string, ...any)) {
	c := r.cfg
	p("- **Control plane:** kube-apiserver and etcd from `bin/k8s` (envtest), with the CRD from `config/crd/bases`.")
	p("- **Simulator:** `internal/graphsim` in the benchmark's process, one instance per run with the same data "+
		"and options: %d tenants with one app registration each and %s each; every request "+
		"held back %s ± %s (uniform); Intune's write limits (100 POSTs per 20 s per app per tenant, 200 per "+
		"tenant, every other 429 without Retry-After).", c.tenants, tokenShare(c.tokens, c.tenants),
		c.latency, c.jitter)
	p("- **Workload:** one namespace per tenant and run, each with its own credentials Secret; all VppTokens " +
		"exist before the manager starts, with the default `syncInterval` (12h).")
	p("- **Operator:** the manager binary built by `make build`, with its default flags but for `--kubeconfig`, " +
		"`--graph-endpoint` and `--authority-host` (the simulator), `--metrics-bind-address` on 127.0.0.1 with " +
		"`--metrics-secure=false` (so the benchmark can scrape it) and `--health-probe-bind-address 127.0.0.1:0`; " +
		"`SSL_CERT_FILE` names the simulator's CA. Time runs from the process's start to the last token seen " +
		"Ready by a watch. CPU is utime+stime from `/proc/<pid>/stat` at that moment (start-up and cache sync " +
		"included); peak RSS is VmHWM; heap is the largest `go_memstats_heap_inuse_bytes` scraped every 0.5 s; " +
		"idle figures come from the same binary run on the empty cluster first.")
	p("- **API server figures** are differences of kube-apiserver's own `apiserver_request_total` (by verb, " +
		"resource, subresource) and `apiserver_watch_events_total` between the manager's start and 2 s after " +
		"the last sync; in that span only the manager writes. Event writes are the `Ready` outcome's event, " +
		"recorded once when a token first becomes Ready.")
	p("- **Restart:** SIGTERM, wait for the exit, start a new process; every simulator request within %s "+
		"of the stop is counted; the new process is done when `controller_runtime_reconcile_total"+
		"{result=\"requeue_after\"}` reaches N with an empty work queue.", c.restartWindow)
	p("- **Steady state:** the binary has no clock to inject and a 15m minimum interval, so this part runs "+
		"the `controllers` package's reconciler in the benchmark's process, wired as `main.go` wires it "+
		"(same pacer, Graph client, %d workers) but on a simulated clock that drives both its schedule "+
		"and its work queue's requeues (controller-runtime's classic rate-limited queue, as its priority "+
		"queue takes no clock). The clock runs with real time, so the pacer and the simulator's limits, "+
		"which are real-time, see what they would, and jumps ahead whenever no token is due, to the next "+
		"due sync plus %s, so that syncs due close together run as one batch. Calls are recorded in "+
		"simulated time as the reconciler makes them. A call less than an interval after the token's "+
		"previous one counts as extra; a gap of two intervals or more as a missed interval.",
		concurrency, c.steadyStep)
	if r.baseline != nil {
		p("- **Baseline:** what users' scripts do today, in the benchmark's process: one token after "+
			"another, a client-credentials token request before every `syncLicenses` call, no pacing, "+
			"a %s sleep and a fresh start after a 429 or any other failure, then a merge patch of the "+
			"token's status with `Ready` True, so both runs are timed by the same condition.", c.baselineSleep)
	}
	p("- Durations vary with the machine's load; counts do not.")
}

// flags is the command line that repeats the run.
func (r *results) flags() string {
	c := r.cfg
	f := fmt.Sprintf("-tokens %d -tenants %d -latency %s -jitter %s", c.tokens, c.tenants, c.latency, c.jitter)
	if c.steadyTokens != c.tokens {
		f += fmt.Sprintf(" -steady-tokens %d", c.steadyTokens)
	}
	for _, flag := range c.extraFlags {
		f += " " + flag
	}
	return f
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func perSync(v float64, syncs int) string {
	if syncs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/float64(syncs))
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }
func gib(b float64) string { return fmt.Sprintf("%.1f GiB", b/(1<<30)) }

func formatCounts(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s × %.0f", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// tokenShare says how many tokens each tenant holds: "50 tokens", or
// "50 or 51 tokens" when they do not divide evenly.
func tokenShare(tokens, tenants int) string {
	low, high := tokens/tenants, (tokens+tenants-1)/tenants
	if low == high {
		return fmt.Sprintf("%d tokens", low)
	}
	return fmt.Sprintf("%d or %d tokens", low, high)
}
