// Command graphsim serves the Microsoft identity platform and Graph vppToken
// simulator over HTTPS on the loopback interface, for the demo and for trying
// the operator without a tenant. By default it serves the data the samples in
// config/samples expect.
package main

import (
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

//go:embed demo-data.json
var demoData []byte

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "Address to listen on.")
	dataFile := flag.String("data", "", "JSON file of tenants, apps and vppTokens; empty serves the demo data.")
	caFile := flag.String("ca-file", "", "Where to write the CA certificate that clients must trust (SSL_CERT_FILE).")
	urlFile := flag.String("url-file", "", "Where to write the server's base URL once it listens.")
	var opts graphsim.Options
	flag.DurationVar(&opts.Latency, "latency", 0, "How long every reply is held back, such as 150ms.")
	flag.DurationVar(&opts.Jitter, "jitter", 0, "How much each reply's delay varies either way around --latency.")
	intuneLimits := flag.Bool("intune-write-limits", false,
		"Answer syncLicenses with 429 beyond Intune's write limits (100 per 20s per app, 200 per tenant).")
	flag.Parse()
	if *intuneLimits {
		limits := graphsim.IntuneWriteLimits
		opts.Throttle = &limits
	}
	opts.Addr = *addr
	opts.AccessLog = os.Stdout

	if err := run(opts, *dataFile, *caFile, *urlFile); err != nil {
		fmt.Fprintln(os.Stderr, "graphsim:", err)
		os.Exit(1)
	}
}

func run(opts graphsim.Options, dataFile, caFile, urlFile string) error {
	raw := demoData
	if dataFile != "" {
		var err error
		if raw, err = os.ReadFile(dataFile); err != nil {
			return err
		}
	}
	var data graphsim.Data
	if err := json.Unmarshal(raw, &data); err != nil {
		return fmt.Errorf("reading the data: %w", err)
	}
	if dataFile == "" {
		if err := freshen(&data, time.Now()); err != nil {
			return fmt.Errorf("dating the demo data: %w", err)
		}
	}

	srv, err := graphsim.Start(data, opts)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	if caFile != "" {
		if err := srv.WriteCAFile(caFile); err != nil {
			return err
		}
	}
	if urlFile != "" {
		if err := os.WriteFile(urlFile, []byte(srv.URL+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("graphsim serving on %s\n", srv.URL)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

// graphDateTime is how Intune writes its times: an offset and seven fractional digits.
const graphDateTime = "2006-01-02T15:04:05.0000000Z07:00"

// freshen moves every vppToken's dates forward by the whole days since its
// lastSyncDateTime, so that the demo data reads the same on any day: synced
// recently, expiring about a year ahead. Times of day and offsets stay as
// written, and so does the form the operator's decoder must read.
func freshen(data *graphsim.Data, now time.Time) error {
	for _, tenant := range data.Tenants {
		for _, tok := range tenant.VppTokens {
			last, ok := tok.Properties["lastSyncDateTime"].(string)
			if !ok {
				continue
			}
			synced, err := time.Parse(time.RFC3339Nano, last)
			if err != nil {
				return fmt.Errorf("lastSyncDateTime: %w", err)
			}
			days := int(now.Sub(synced).Hours() / 24)
			if days <= 0 {
				continue
			}
			for key, value := range tok.Properties {
				text, isText := value.(string)
				if !isText || !strings.HasSuffix(key, "DateTime") {
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, text)
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				tok.Properties[key] = t.AddDate(0, 0, days).Format(graphDateTime)
			}
		}
	}
	return nil
}
