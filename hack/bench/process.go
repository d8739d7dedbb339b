package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vpp-operator/vpp-operator/hack/internal/localrun"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU
// times; it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// stopGrace is how long the manager may take to exit on SIGTERM before it
// gets SIGKILL.
const stopGrace = 20 * time.Second

// managerProcess is one run of the manager binary, sampled through its
// metrics endpoint and /proc.
type managerProcess struct {
	proc       *localrun.Process
	metricsURL string
	started    time.Time

	mu       sync.Mutex
	peakHeap float64
	last     map[string]*dto.MetricFamily
}

// launcher starts the manager binary against one cluster and simulator.
type launcher struct {
	binary, kubeconfig, simURL string
	// caFile is the simulator's CA, which the manager trusts through
	// SSL_CERT_FILE.
	caFile string
}

// args are the flags the benchmark gives the manager: where the cluster and
// the simulator are, and a loopback metrics address. Everything else is the
// manager's default.
func (l launcher) args(metricsAddr string) []string {
	return []string{
		"--kubeconfig", l.kubeconfig,
		"--graph-endpoint", l.simURL,
		"--authority-host", l.simURL,
		// Plain HTTP on the loopback interface, for the benchmark to scrape;
		// the probes too stay off the machine's other interfaces.
		"--metrics-bind-address", metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address", "127.0.0.1:0",
	}
}

// start runs the manager with its output in logPath, and samples it every
// half second.
func (l launcher) start(ctx context.Context, logPath string) (*managerProcess, error) {
	addr, err := localrun.FreeAddress()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(l.binary, l.args(addr)...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+l.caFile)
	proc, err := localrun.Start(cmd, logPath)
	if err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	m := &managerProcess{proc: proc, metricsURL: "http://" + addr + "/metrics", started: time.Now()}
	go m.sample(ctx, 500*time.Millisecond)
	return m, nil
}

// sample scrapes the metrics endpoint until the process exits, keeping the
// latest scrape and the largest heap in use seen.
func (m *managerProcess) sample(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if fams, err := scrapeText(ctx, m.metricsURL); err == nil {
			heap := sum(fams, "go_memstats_heap_inuse_bytes", nil)
			m.mu.Lock()
			m.last = fams
			m.peakHeap = max(m.peakHeap, heap)
			m.mu.Unlock()
		}
		select {
		case <-t.C:
		case <-m.proc.Exited():
			return
		case <-ctx.Done():
			return
		}
	}
}

// metric is a sum over the latest scrape.
func (m *managerProcess) metric(name string, labels map[string]string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sum(m.last, name, labels)
}

// scraped reports whether a scrape has succeeded yet.
func (m *managerProcess) scraped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last != nil
}

func (m *managerProcess) heapPeak() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peakHeap
}

// waitFor polls cond every 100ms until it holds or the deadline passes.
func waitFor(ctx context.Context, deadline time.Duration, cond func() bool) bool {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) && ctx.Err() == nil {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// cpuSeconds is the process's user and system CPU time so far.
func (m *managerProcess) cpuSeconds() (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.proc.Pid()))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; fields count on
	// from the state after it (field 3), so utime (14) and stime (15) are 11
	// and 12 places on.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

// memory reads a kB field of /proc/<pid>/status (VmRSS, VmHWM) in bytes.
func (m *managerProcess) memory(field string) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.proc.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// stop ends the manager as a Pod's deletion does.
func (m *managerProcess) stop() { m.proc.Stop(stopGrace) }
