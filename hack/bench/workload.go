package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

// runLabel marks the VppTokens of one run, so that each run watches its own.
const runLabel = "bench.vpp-operator.io/run"

// secretName is each namespace's credentials Secret.
const secretName = "intune-app"

// tenant is one simulated Entra tenant: one app registration, one namespace
// per run holding its Secret, and its share of the tokens.
type tenant struct {
	id, clientID, clientSecret string
	tokenIDs                   []string
}

// workload is N tokens spread over T tenants, as evenly as they divide.
type workload struct {
	tenants []tenant
	total   int
}

func newWorkload(tokens, tenants int) *workload {
	w := &workload{total: tokens}
	for i := range tenants {
		t := tenant{
			id:           fmt.Sprintf("%08x-0000-4000-a000-00000000be0c", i+1),
			clientID:     fmt.Sprintf("%08x-0000-4000-a000-0000000a9914", i+1),
			clientSecret: fmt.Sprintf("bench-secret-%d", i+1),
		}
		share := tokens / tenants
		if i < tokens%tenants {
			share++
		}
		for j := range share {
			t.tokenIDs = append(t.tokenIDs, fmt.Sprintf("%08x-%04x-4000-8000-00000000be0c", i+1, j+1))
		}
		w.tenants = append(w.tenants, t)
	}
	return w
}

// busiest is the largest number of tokens one tenant holds.
func (w *workload) busiest() int {
	n := 0
	for _, t := range w.tenants {
		n = max(n, len(t.tokenIDs))
	}
	return n
}

// data is what graphsim serves: every tenant's app and healthy tokens that
// Intune has never synced, answering syncLicenses with the whole token.
func (w *workload) data(now time.Time) graphsim.Data {
	var d graphsim.Data
	for i, t := range w.tenants {
		st := graphsim.Tenant{ID: t.id, Apps: []graphsim.App{{ClientID: t.clientID, ClientSecret: t.clientSecret}}}
		for _, id := range t.tokenIDs {
			st.VppTokens = append(st.VppTokens, graphsim.VppToken{Properties: map[string]any{
				"id":                      id,
				"organizationName":        fmt.Sprintf("Tenant %d", i+1),
				"vppTokenAccountType":     "business",
				"appleId":                 fmt.Sprintf("vpp@tenant%d.example", i+1),
				"expirationDateTime":      now.AddDate(1, 0, 0).UTC().Format(time.RFC3339),
				"lastSyncDateTime":        "0001-01-01T00:00:00Z",
				"lastModifiedDateTime":    now.UTC().Format(time.RFC3339),
				"state":                   "valid",
				"lastSyncStatus":          "none",
				"automaticallyUpdateApps": false,
				"countryOrRegion":         "gb",
			}})
		}
		d.Tenants = append(d.Tenants, st)
	}
	return d
}

// namespace is the tenant's namespace in a run.
func namespace(run string, tenant int) string { return fmt.Sprintf("%s-t%03d", run, tenant+1) }

// tokenName is a token's VppToken name in its tenant's namespace.
func tokenName(j int) string { return fmt.Sprintf("token-%04d", j+1) }

// create makes the run's namespaces, Secrets and VppTokens, several at a time.
func (w *workload) create(ctx context.Context, c client.Client, run string, interval *metav1.Duration) error {
	for i, t := range w.tenants {
		ns := namespace(run, i)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName},
			StringData: map[string]string{"tenantId": t.id, "clientId": t.clientID, "clientSecret": t.clientSecret}}
		if err := c.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating the Secret in %s: %w", ns, err)
		}
	}

	type item struct {
		ns, name, tokenID string
	}
	items := make(chan item)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range items {
				tok := &intunev1alpha1.VppToken{
					ObjectMeta: metav1.ObjectMeta{Namespace: it.ns, Name: it.name, Labels: map[string]string{runLabel: run}},
					Spec: intunev1alpha1.VppTokenSpec{TokenID: it.tokenID, SyncInterval: interval,
						Credentials: intunev1alpha1.Credentials{SecretRef: &intunev1alpha1.SecretReference{Name: secretName}}},
				}
				if err := c.Create(ctx, tok); err != nil {
					select {
					case errs <- fmt.Errorf("creating %s/%s: %w", it.ns, it.name, err):
					default:
					}
				}
			}
		})
	}
	for i, t := range w.tenants {
		for j, id := range t.tokenIDs {
			items <- item{ns: namespace(run, i), name: tokenName(j), tokenID: id}
		}
	}
	close(items)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
