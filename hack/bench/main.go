// Command bench measures the operator at scale: thousands of VppTokens over
// many tenants, synced by the manager binary through the Graph simulator with
// Intune's latency and write limits, on a local kube-apiserver and etcd. It
// measures the same workload through a script that does what users' scripts
// do today, simulates an hour of steady state, and writes a Markdown report
// and a chart of tokens Ready over time. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	// A flag set of its own: controller-runtime adds --kubeconfig to the
	// default one, and the benchmark makes its own cluster.
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	var c config
	fs.IntVar(&c.tokens, "tokens", 2000, "VppTokens in all (N).")
	fs.IntVar(&c.tenants, "tenants", 40, "Tenants (T), each with one app registration, namespace and Secret.")
	fs.DurationVar(&c.latency, "latency", 150*time.Millisecond,
		"Mean time the simulator takes to answer a request.")
	fs.DurationVar(&c.jitter, "jitter", 50*time.Millisecond,
		"How far each answer's delay varies either way from -latency.")
	fs.StringVar(&c.manager, "manager", "bin/manager", "The manager binary to measure.")
	fs.StringVar(&c.crds, "crds", filepath.Join("config", "crd", "bases"), "Folder of the CRD manifests.")
	fs.StringVar(&c.out, "out", filepath.Join("hack", "bench", "results"), "Folder for the report, chart and logs.")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "Time limit of each wait for the runs to finish.")
	fs.BoolVar(&c.skipBaseline, "skip-baseline", false,
		"Leave out the baseline script (about 10 minutes at the defaults).")
	fs.DurationVar(&c.baselineSleep, "baseline-sleep", 5*time.Second, "The baseline's sleep after a 429.")
	fs.DurationVar(&c.restartWindow, "restart-window", time.Minute, "How long after a restart Graph calls are counted.")
	fs.BoolVar(&c.skipSteady, "skip-steady", false, "Leave out the simulated steady-state hour.")
	fs.IntVar(&c.steadyTokens, "steady-tokens", 0, "Tokens in the steady-state hour; 0 means -tokens.")
	fs.DurationVar(&c.steadyPeriod, "steady-period", time.Hour, "Simulated time of the steady state.")
	fs.DurationVar(&c.steadyStep, "steady-step", 10*time.Second,
		"Simulated time the steady state's clock jumps past the next due sync, batching syncs due within it.")
	_ = fs.Parse(os.Args[1:])
	if c.steadyTokens == 0 {
		c.steadyTokens = c.tokens
	}
	if c.tokens < 1 || c.tenants < 1 || c.tenants > c.tokens {
		fmt.Fprintln(os.Stderr, "bench: -tokens must be at least -tenants, and -tenants at least 1")
		os.Exit(2)
	}
	c.progress = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
	fmt.Printf("==> report: %s\n", filepath.Join(c.out, res.name()+".md"))
}
