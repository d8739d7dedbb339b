// Package controllers holds the VppToken reconciler: it decides when a token
// is due, syncs it through the Graph client, and writes what Graph said into
// the token's status with conditions and events.
package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
	"github.com/vpp-operator/vpp-operator/internal/schedule"
	"github.com/vpp-operator/vpp-operator/internal/workloadidentity"
)

// LicenseSyncer is the Graph calls the reconciler makes; *graph.Client is one.
type LicenseSyncer interface {
	SyncLicenses(ctx context.Context, t graph.Target) (*graph.SyncResult, error)
	GetVppToken(ctx context.Context, t graph.Target) (*graph.SyncResult, error)
}

// VppTokenReconciler syncs each VppToken's licences on its schedule.
//
// It owns the token's status and its events. It leaves retries of Kubernetes
// API errors to controller-runtime's rate limiter, and backs off Graph
// failures itself, by the rules of package schedule, so that the backoff
// survives restarts.
type VppTokenReconciler struct {
	client.Client
	// APIReader reads Secrets uncached; the cache holds only their metadata.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Graph     LicenseSyncer
	// Clock drives every schedule decision.
	Clock clock.PassiveClock
	// Pacer spaces out syncLicenses calls per app; nil means no pacing. It
	// runs on real time, as Graph's throttling does.
	Pacer *pacing.Pacer
	// Jitter returns a number in [0, 1) for the schedule's random spread;
	// nil means math/rand.
	Jitter func() float64
	// ExpiryWarning is how long before expiry a token counts as Expiring;
	// zero means DefaultExpiryWarning.
	ExpiryWarning time.Duration

	// usedCredentials remembers, per token, a fingerprint of the credentials
	// its last attempt used, so that a Secret whose metadata alone changed
	// (a label, an annotation from a reloader) does not cut a backoff short.
	// It lives in memory only: after a restart a changed Secret counts as new.
	usedCredentials sync.Map

	tokensOnce sync.Once
	tokens     *workloadidentity.Cache
}

// DefaultExpiryWarning is the warning window monitoring tools in the field use.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// DefaultMaxConcurrentReconciles is how many VppTokens the manager syncs at the
// same time unless --max-concurrent-reconciles says otherwise.
const DefaultMaxConcurrentReconciles = 10

// ExpiryWindow is the warning window a configured ExpiryWarning gives: zero
// means DefaultExpiryWarning.
func ExpiryWindow(configured time.Duration) time.Duration {
	if configured == 0 {
		return DefaultExpiryWarning
	}
	return configured
}

// Indexes of VppTokens by the name of their credentials Secret or ServiceAccount.
const (
	secretRefIndex      = ".spec.credentials.secretRef.name"
	serviceAccountIndex = ".spec.credentials.workloadIdentity.serviceAccountName"
)

// eventAction is the action of every event the reconciler records.
const eventAction = "SyncLicenses"

// The operator reads VppTokens and patches their status; it reads Secrets and
// ServiceAccounts, watching their metadata only; it records events. Requesting
// ServiceAccount tokens is a role of its own: see package workloadidentity.
// +kubebuilder:rbac:groups=intune.vpp-operator.io,resources=vpptokens,verbs=get;list;watch
// +kubebuilder:rbac:groups=intune.vpp-operator.io,resources=vpptokens/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets;serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one VppToken's status up to date, syncing when due.
func (r *VppTokenReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tok intunev1alpha1.VppToken
	if err := r.Get(ctx, req.NamespacedName, &tok); err != nil {
		if apierrors.IsNotFound(err) {
			r.usedCredentials.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logger := log.FromContext(ctx).WithValues("tokenId", tok.Spec.TokenID)
	ctx = log.IntoContext(ctx, logger)
	orig := tok.DeepCopy()
	// Status holds whole seconds; working in them keeps comparisons exact.
	now := r.Clock.Now().UTC().Truncate(time.Second)

	// suspended: no Graph call at all; expiry warnings go on.
	if tok.Spec.Suspend {
		markSuspended(&tok, now)
		return r.commitCached(ctx, orig, &tok, r.checkExpiry(&tok, now))
	}

	decision, creds, err := r.decide(ctx, &tok, now)
	if err == nil && decision.Action != schedule.Wait {
		decision, creds, err = r.confirm(ctx, &tok, now)
		orig = tok.DeepCopy()
	}
	if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if decision.Action == schedule.Wait {
		logger.V(1).Info("sync not due", "wait", decision.Wait.String())
		// Expiry warnings repeat daily, even for tokens synced less often.
		return r.commitCached(ctx, orig, &tok, min(decision.Wait, r.checkExpiry(&tok, now)))
	}
	logger.V(1).Info("due", "why", decision.Why)

	paced, err := r.act(ctx, &tok, decision.Action, creds, now)
	if err != nil || paced > 0 {
		return ctrl.Result{RequeueAfter: paced}, err
	}
	expiryWait := r.checkExpiry(&tok, now)
	err = r.commit(ctx, orig, &tok, client.MergeFrom(orig))
	if apierrors.IsInvalid(err) {
		// Returning the error would retry at once, and call Graph again each
		// time; recording the refusal as a failure keeps the backoff.
		refused := tok.Status
		tok = *orig.DeepCopy()
		// What the attempt used stays recorded, so it is not mistaken for new.
		tok.Status.LastHandledSyncRequest = refused.LastHandledSyncRequest
		tok.Status.CredentialsResourceVersion = refused.CredentialsResourceVersion
		markFailed(&tok, rejectedStatus(err), now, r.jitter())
		err = r.commit(ctx, orig, &tok, client.MergeFrom(orig))
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: min(tok.Status.NextSyncTime.Sub(now), expiryWait)}, nil
}

// act syncs or polls the token and records the outcome in its status, with
// the credentials deciding read, or else reads them. It returns only
// Kubernetes API errors, Graph failures land in the status, and a positive
// wait when the app's write pace holds the sync back; then the status is left
// as it was.
func (r *VppTokenReconciler) act(ctx context.Context, tok *intunev1alpha1.VppToken, action schedule.Action,
	creds *loadedCredentials, now time.Time) (paced time.Duration, err error) {
	if creds == nil {
		if creds, err = r.loadCredentials(ctx, tok); err != nil {
			return 0, err
		}
	}
	target := graph.Target{Cloud: string(tok.Spec.Cloud), TokenID: tok.Spec.TokenID, App: creds.app}
	if creds.problem == nil && action == schedule.Sync && r.Pacer != nil {
		app := pacing.App{Cloud: target.Cloud, TenantID: creds.app.TenantID, ClientID: creds.app.ClientID}
		if d := r.Pacer.Wait(app, client.ObjectKeyFromObject(tok).String(), time.Now()); d > 0 {
			log.FromContext(ctx).V(1).Info("paced", "tenant", creds.app.TenantID, "wait", d.String())
			return d, nil
		}
	}

	tok.Status.CredentialsResourceVersion = creds.resourceVersion
	r.usedCredentials.Store(client.ObjectKeyFromObject(tok), creds.fingerprint())
	if action == schedule.Sync {
		tok.Status.LastHandledSyncRequest = syncRequest(tok)
	}
	if creds.problem != nil {
		markFailed(tok, *creds.problem, now, r.jitter())
		return 0, nil
	}

	var res *graph.SyncResult
	if action == schedule.Poll {
		res, err = r.Graph.GetVppToken(ctx, target)
	} else {
		res, err = r.Graph.SyncLicenses(ctx, target)
	}
	if err != nil {
		f := classify(err, tok.Spec.TokenID, creds.signInAdvice)
		log.FromContext(ctx).V(1).Info("sync failed", "reason", f.Reason, "requestId", f.RequestID,
			"tenant", creds.app.TenantID, "error", err.Error())
		if action == schedule.Poll && tok.Status.SyncPolls+1 < schedule.MaxPolls {
			// Intune may still be syncing: look again later rather than
			// start another sync.
			markPollFailed(tok, f, now, r.jitter())
			return 0, nil
		}
		markFailed(tok, f, now, r.jitter())
		return 0, nil
	}
	r.recordResult(tok, action, res, now)
	return 0, nil
}

// recordResult records what Graph said after a successful call, by Intune's
// lastSyncStatus: a sync still running is polled, a failed one backs off.
func (r *VppTokenReconciler) recordResult(tok *intunev1alpha1.VppToken, action schedule.Action,
	res *graph.SyncResult, now time.Time) {
	copyGraphFields(&tok.Status, res.Token)
	switch res.Token.LastSyncStatus {
	case "inProgress":
		polls := int32(0)
		if action == schedule.Poll {
			polls = tok.Status.SyncPolls + 1
		}
		if polls >= schedule.MaxPolls {
			markFailed(tok, failure{Reason: intunev1alpha1.ReasonSyncFailed, RequestID: res.RequestID,
				Message: fmt.Sprintf("Intune was still syncing with Apple after %d checks; the operator "+
					"syncs again with backoff.", polls)}, now, r.jitter())
			return
		}
		markInProgress(tok, action == schedule.Sync, polls, res.RequestID, now)
	case "failed":
		markFailed(tok, failure{Reason: intunev1alpha1.ReasonSyncFailed, RequestID: res.RequestID,
			Message: "Intune reports that its sync with Apple failed; the operator retries with backoff. " +
				"If it persists, check the token in Intune."}, now, r.jitter())
	default:
		markSynced(tok, action == schedule.Sync, res.RequestID, now, r.jitter())
	}
}

// checkExpiry sets the Expiring condition and, once a day, marks a warning
// for reportOutcome to record. It returns how long until the verdict can next
// change: the next warning, or the token entering the warning window.
func (r *VppTokenReconciler) checkExpiry(tok *intunev1alpha1.VppToken, now time.Time) time.Duration {
	exp := tok.Status.ExpirationDateTime
	if exp == nil {
		meta.RemoveStatusCondition(&tok.Status.Conditions, intunev1alpha1.ConditionExpiring)
		return schedule.ExpiryWarningEvery
	}
	window := ExpiryWindow(r.ExpiryWarning)
	e := schedule.CheckExpiry(now, exp.Time, window, timeOf(tok.Status.LastExpiryWarningTime))
	markExpiry(tok, e, now)
	if e.Warn {
		tok.Status.LastExpiryWarningTime = ptrTime(now)
	}
	if !e.Expiring {
		return max(exp.Add(-window).Sub(now), time.Second)
	}
	return max(tok.Status.LastExpiryWarningTime.Add(schedule.ExpiryWarningEvery).Sub(now), time.Second)
}

func (r *VppTokenReconciler) jitter() float64 {
	if r.Jitter == nil {
		return rand.Float64()
	}
	return r.Jitter()
}

// confirm decides again on a fresh read of the token. The cache can lag
// behind this controller's own last status write, and a read costs less than
// calling Graph twice for one due sync.
func (r *VppTokenReconciler) confirm(ctx context.Context, tok *intunev1alpha1.VppToken, now time.Time) (
	schedule.Decision, *loadedCredentials, error) {
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(tok), tok); err != nil {
		return schedule.Decision{}, nil, err
	}
	return r.decide(ctx, tok, now)
}

// maxSyncRequest bounds the sync-requested-at value kept in status; a longer
// one is kept as its hash, which changes just as the value does.
const maxSyncRequest = 128

// syncRequest is the token's sync-requested-at value as status records it.
func syncRequest(tok *intunev1alpha1.VppToken) string {
	v := tok.Annotations[intunev1alpha1.SyncRequestedAtAnnotation]
	if len(v) <= maxSyncRequest {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// decide applies the schedule to the token. It returns the credentials it
// read to decide, if any, so that a due sync need not read them again.
func (r *VppTokenReconciler) decide(ctx context.Context, tok *intunev1alpha1.VppToken, now time.Time) (
	schedule.Decision, *loadedCredentials, error) {
	state, creds, err := r.scheduleState(ctx, tok)
	if err != nil {
		return schedule.Decision{}, nil, err
	}
	return schedule.Due(now, state), creds, nil
}

// scheduleState is the part of a token the schedule decides on. For a failing
// token whose Secret or ServiceAccount has a new resourceVersion it reads the
// credentials, to tell a change of them from a change of other metadata, and
// returns them.
func (r *VppTokenReconciler) scheduleState(ctx context.Context, tok *intunev1alpha1.VppToken) (
	schedule.State, *loadedCredentials, error) {
	s := tok.Status
	synced := meta.FindStatusCondition(s.Conditions, intunev1alpha1.ConditionSynced)
	state := schedule.State{
		Generation:         tok.Generation,
		ObservedGeneration: s.ObservedGeneration,
		Interval:           tok.Spec.Interval(),
		LastAttempt:        timeOf(s.LastSyncAttemptTime),
		NextSync:           timeOf(s.NextSyncTime),
		Failing:            synced != nil && synced.Status == metav1.ConditionFalse,
		InProgress:         synced != nil && synced.Reason == intunev1alpha1.ReasonSyncInProgress,
		SyncRequested:      syncRequest(tok) != "" && syncRequest(tok) != s.LastHandledSyncRequest,
	}
	if !state.Failing {
		return state, nil, nil
	}

	version, err := r.credentialsResourceVersion(ctx, tok)
	if err != nil {
		return state, nil, err
	}
	key := client.ObjectKeyFromObject(tok)
	used, known := r.usedCredentials.Load(key)
	if version == s.CredentialsResourceVersion && known {
		return state, nil, nil
	}
	creds, err := r.loadCredentials(ctx, tok)
	if err != nil {
		return state, nil, err
	}
	if version == s.CredentialsResourceVersion {
		// First look since a restart at a Secret the last attempt used: its
		// credentials are the baseline for later changes.
		r.usedCredentials.Store(key, creds.fingerprint())
		return state, creds, nil
	}
	state.CredentialsChanged = !known || used != creds.fingerprint()
	if !state.CredentialsChanged {
		// Only metadata changed: note the version, so that a restarted
		// operator, which remembers no fingerprints, does not take the
		// credentials for new.
		tok.Status.CredentialsResourceVersion = version
	}
	return state, creds, nil
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

// commit writes the status once, as the given patch from orig, when it
// changed, then reports a changed outcome. After a Graph call the patch is a
// plain merge patch: it needs no resourceVersion, so a concurrent edit of the
// spec cannot make the write fail and the sync repeat.
func (r *VppTokenReconciler) commit(ctx context.Context, orig, tok *intunev1alpha1.VppToken, patch client.Patch) error {
	if equality.Semantic.DeepEqual(orig.Status, tok.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, tok, patch)
	if apierrors.IsNotFound(err) {
		return nil // deleted while syncing: nothing left to report on
	}
	if err != nil {
		return err
	}
	r.reportOutcome(ctx, orig, tok)
	return nil
}

// commitCached writes a status computed from the cache without a Graph call,
// such as a new expiry message. The cache may lag behind this controller's
// last write, and a merge patch replaces the whole conditions list, so the
// patch is tied to the resourceVersion read: on a conflict nothing is written
// and the token is looked at again shortly.
func (r *VppTokenReconciler) commitCached(ctx context.Context, orig, tok *intunev1alpha1.VppToken,
	wait time.Duration) (ctrl.Result, error) {
	err := r.commit(ctx, orig, tok, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		log.FromContext(ctx).V(1).Info("status changed meanwhile; looking again")
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{RequeueAfter: wait}, err
}

// reportOutcome logs and records an event when the Ready outcome changed, and
// the daily Warning event of a token near or past its expiry.
func (r *VppTokenReconciler) reportOutcome(ctx context.Context, orig, tok *intunev1alpha1.VppToken) {
	if w := tok.Status.LastExpiryWarningTime; w != nil && !w.Equal(orig.Status.LastExpiryWarningTime) {
		if c := meta.FindStatusCondition(tok.Status.Conditions, intunev1alpha1.ConditionExpiring); c != nil {
			r.Recorder.Eventf(tok, nil, corev1.EventTypeWarning, c.Reason, eventAction, "%s", c.Message)
		}
	}

	before := meta.FindStatusCondition(orig.Status.Conditions, intunev1alpha1.ConditionReady)
	after := meta.FindStatusCondition(tok.Status.Conditions, intunev1alpha1.ConditionReady)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason) {
		return
	}
	log.FromContext(ctx).Info("outcome changed", "ready", after.Status, "reason", after.Reason)
	kind := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue && after.Reason != intunev1alpha1.ReasonSuspended {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(tok, nil, kind, after.Reason, eventAction, "%s", after.Message)
}

// SetupWithManager registers the reconciler. It watches VppTokens, ignoring
// updates to their status (its own writes), and the metadata of Secrets and
// ServiceAccounts, so a changed credential reaches the tokens that use it.
func (r *VppTokenReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	indexes := map[string]func(intunev1alpha1.Credentials) string{
		secretRefIndex: func(c intunev1alpha1.Credentials) string {
			if c.SecretRef == nil {
				return ""
			}
			return c.SecretRef.Name
		},
		serviceAccountIndex: func(c intunev1alpha1.Credentials) string {
			if c.WorkloadIdentity == nil {
				return ""
			}
			return c.WorkloadIdentity.ServiceAccountName
		},
	}
	for field, nameOf := range indexes {
		err := mgr.GetFieldIndexer().IndexField(ctx, &intunev1alpha1.VppToken{}, field,
			func(o client.Object) []string {
				if name := nameOf(o.(*intunev1alpha1.VppToken).Spec.Credentials); name != "" {
					return []string{name}
				}
				return nil
			})
		if err != nil {
			return err
		}
	}

	return ctrl.NewControllerManagedBy(mgr).
		Named("vpptoken").
		For(&intunev1alpha1.VppToken{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tokensUsing(secretRefIndex))).
		WatchesMetadata(&corev1.ServiceAccount{},
			handler.EnqueueRequestsFromMapFunc(r.tokensUsing(serviceAccountIndex))).
		WithOptions(opts).
		Complete(r)
}

// tokensUsing maps a Secret or ServiceAccount to the VppTokens in its
// namespace that name it, by the given index.
func (r *VppTokenReconciler) tokensUsing(index string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list intunev1alpha1.VppTokenList
		if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()),
			client.MatchingFields{index: obj.GetName()}); err != nil {
			log.FromContext(ctx).Error(err, "listing VppTokens for a credential source", "name", obj.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, t := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&t)})
		}
		return reqs
	}
}
