package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
)

// baselineResult is the scripted run.
type baselineResult struct {
	ready    int
	readyIn  time.Duration
	curve    []time.Duration
	sim      simCounts
	api      apiDelta
	failures int // tokens given up on after maxAttempts
}

const (
	baselineRun = "base"
	// maxAttempts bounds the script's retries of one token.
	maxAttempts = 20
)

// runBaseline syncs the same workload the way the scripts users run today
// do: one token after another, a fresh access token for every call, no
// pacing, a fixed sleep after a 429 or any other failure, and the token
// marked done by patching its Ready condition.
func (b *bench) runBaseline(ctx context.Context) (*baselineResult, error) {
	res := &baselineResult{}
	sim, err := b.startSim("")
	if err != nil {
		return nil, err
	}
	defer func() { _ = sim.Close() }()

	b.logf("creating the baseline's %d VppTokens", b.cfg.tokens)
	if err := b.workload.create(ctx, b.client, baselineRun, nil); err != nil {
		return nil, err
	}
	before, err := b.api.scrape(ctx)
	if err != nil {
		return nil, err
	}

	b.logf("running the baseline script (one worker, a token request per call, %s sleep on 429)",
		b.cfg.baselineSleep)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: sim.CertPool(), MinVersion: tls.VersionTLS12}}}
	s := &script{hc: hc, base: sim.URL, sleep: b.cfg.baselineSleep}
	start := time.Now()
	trackCtx, stopTracking := context.WithCancel(ctx)
	defer stopTracking()
	tracker := trackReady(trackCtx, b.client, baselineRun, b.cfg.tokens, start)
	deadline := start.Add(max(b.cfg.timeout, 10*time.Duration(b.cfg.tokens)*(b.cfg.latency+b.cfg.jitter)))
	for i, t := range b.workload.tenants {
		for j, id := range t.tokenIDs {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return res, fmt.Errorf("the baseline ran out of time with %d tokens Ready", tracker.count())
			}
			if err := s.syncToken(ctx, t, id); err != nil {
				res.failures++
				continue
			}
			key := client.ObjectKey{Namespace: namespace(baselineRun, i), Name: tokenName(j)}
			if err := markReady(ctx, b.client, key); err != nil {
				return res, err
			}
		}
	}
	tracker.setWant(b.cfg.tokens - res.failures)
	res.ready, err = tracker.wait(ctx, 30*time.Second)
	res.curve = tracker.curve()
	if len(res.curve) > 0 {
		res.readyIn = res.curve[len(res.curve)-1]
	}
	after, scrapeErr := b.api.scrape(ctx)
	if scrapeErr != nil {
		return res, scrapeErr
	}
	res.api = diffAPI(before, after)
	res.sim = countRequests(sim.Requests())
	return res, err
}

// script is the baseline's Graph client: plain HTTP calls, as a PowerShell
// or Python script makes them.
type script struct {
	hc    *http.Client
	base  string
	sleep time.Duration
}

// syncToken signs in and calls syncLicenses, starting over after the sleep
// when either answers anything but success.
func (s *script) syncToken(ctx context.Context, t tenant, tokenID string) error {
	var last error
	for range maxAttempts {
		access, err := s.signIn(ctx, t)
		if err == nil {
			if err = s.syncLicenses(ctx, access, tokenID); err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-time.After(s.sleep):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return last
}

func (s *script) signIn(ctx context.Context, t tenant) (string, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {t.clientID},
		"client_secret": {t.clientSecret},
		"scope":         {"https://graph.microsoft.com/.default"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/"+t.id+"/oauth2/v2.0/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := s.do(req)
	if err != nil {
		return "", err
	}
	var reply struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.AccessToken == "" {
		return "", fmt.Errorf("no access token in the reply")
	}
	return reply.AccessToken, nil
}

func (s *script) syncLicenses(ctx context.Context, access, tokenID string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		s.base+"/v1.0/deviceAppManagement/vppTokens/"+tokenID+"/syncLicenses", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	_, err = s.do(req)
	return err
}

func (s *script) do(req *http.Request) ([]byte, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return body, nil
}

// markReady patches the token's Ready condition to True, as the script's
// last step, so that both runs are timed by the same condition.
func markReady(ctx context.Context, c client.Client, key client.ObjectKey) error {
	now := time.Now().UTC().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":"True","reason":%q,`+
		`"message":"Synced by the baseline script.","lastTransitionTime":%q}]}}`,
		intunev1alpha1.ConditionReady, intunev1alpha1.ReasonSynced, now)
	tok := &intunev1alpha1.VppToken{}
	tok.Namespace, tok.Name = key.Namespace, key.Name
	if err := c.Status().Patch(ctx, tok, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("marking %s Ready: %w", key, err)
	}
	return nil
}
