// Package controllers holds the VppToken reconciler: it decides when a token
// is due, syncs it through the Graph client, and writes what Graph said into
// the token's status with conditions and events.
package controllers

import (
	"context"
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
	"github.com/vpp-operator/vpp-operator/internal/schedule"
)

// LicenseSyncer is the Graph call the reconciler makes; *graph.Client is one.
type LicenseSyncer interface {
	SyncLicenses(ctx context.Context, t graph.Target) (*graph.SyncResult, error)
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
	Clock     clock.PassiveClock

	// usedCredentials remembers, per token, a fingerprint of the credentials
	// its last attempt used, so that a Secret whose metadata alone changed
	// (a label, an annotation from a reloader) does not cut a backoff short.
	// It lives in memory only: after a restart a changed Secret counts as new.
	usedCredentials sync.Map
}

// secretRefIndex indexes VppTokens by the name of their credentials Secret.
const secretRefIndex = ".spec.credentials.secretRef.name"

// eventAction is the action of every event the reconciler records.
const eventAction = "SyncLicenses"

// +kubebuilder:rbac:groups=intune.vpp-operator.io,resources=vpptokens,verbs=get;list;watch
// +kubebuilder:rbac:groups=intune.vpp-operator.io,resources=vpptokens/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one VppToken's status up to date, syncing when due.
func (r *VppTokenReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tok intunev1alpha1.VppToken
	if err := r.Get(ctx, req.NamespacedName, &tok); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logger := log.FromContext(ctx).WithValues("tokenId", tok.Spec.TokenID)
	ctx = log.IntoContext(ctx, logger)
	orig := tok.DeepCopy()
	// Status holds whole seconds; working in them keeps comparisons exact.
	now := r.Clock.Now().UTC().Truncate(time.Second)

	// suspended: no Graph call at all, and nothing to requeue for.
	if tok.Spec.Suspend {
		markSuspended(&tok, now)
		return ctrl.Result{}, r.commit(ctx, orig, &tok)
	}

	state, err := r.scheduleState(ctx, &tok)
	if err != nil {
		return ctrl.Result{}, err
	}
	decision := schedule.Due(now, state)
	if !decision.Due {
		logger.V(1).Info("sync not due", "wait", decision.Wait.String())
		return ctrl.Result{RequeueAfter: decision.Wait}, nil
	}
	logger.V(1).Info("syncing", "why", decision.Why)

	if err := r.sync(ctx, &tok, now); err != nil {
		return ctrl.Result{}, err
	}
	err = r.commit(ctx, orig, &tok)
	if apierrors.IsInvalid(err) {
		// Returning the error would retry at once, and call Graph again each
		// time; recording the refusal as a failure keeps the backoff.
		tok = *orig.DeepCopy()
		markFailed(&tok, rejectedStatus(err), now)
		err = r.commit(ctx, orig, &tok)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: tok.Status.NextSyncTime.Sub(now)}, nil
}

// sync makes one sync attempt and records its outcome in tok's status. It
// returns only Kubernetes API errors; Graph failures land in the status.
func (r *VppTokenReconciler) sync(ctx context.Context, tok *intunev1alpha1.VppToken, now time.Time) error {
	creds, err := r.loadCredentials(ctx, tok)
	if err != nil {
		return err
	}
	tok.Status.SecretResourceVersion = creds.resourceVersion
	r.usedCredentials.Store(client.ObjectKeyFromObject(tok), creds.fingerprint())
	if creds.problem != nil {
		markFailed(tok, *creds.problem, now)
		return nil
	}

	res, err := r.Graph.SyncLicenses(ctx, graph.Target{
		Cloud:   string(tok.Spec.Cloud),
		TokenID: tok.Spec.TokenID,
		App:     creds.app,
	})
	if err != nil {
		f := classify(err, tok.Spec.TokenID)
		log.FromContext(ctx).V(1).Info("sync failed", "reason", f.Reason, "requestId", f.RequestID,
			"tenant", creds.app.TenantID, "error", err.Error())
		markFailed(tok, f, now)
		return nil
	}
	if res.Token.LastSyncStatus == "failed" {
		// The call worked but Intune's sync with Apple did not: show what
		// Graph said, and retry like any other failure.
		copyGraphFields(&tok.Status, res.Token)
		markFailed(tok, failure{Reason: intunev1alpha1.ReasonSyncFailed, RequestID: res.RequestID,
			Message: "Intune reports that its sync with Apple failed; the operator retries with backoff. " +
				"If it persists, check the token in Intune."}, now)
		return nil
	}
	markSynced(tok, res, now)
	return nil
}

// scheduleState is the part of a token the schedule decides on. For a failing
// token whose Secret has a new resourceVersion it reads the Secret, to tell a
// change of credentials from a change of metadata.
func (r *VppTokenReconciler) scheduleState(ctx context.Context, tok *intunev1alpha1.VppToken) (schedule.State, error) {
	s := tok.Status
	synced := meta.FindStatusCondition(s.Conditions, intunev1alpha1.ConditionSynced)
	state := schedule.State{
		Generation:         tok.Generation,
		ObservedGeneration: s.ObservedGeneration,
		Interval:           syncInterval(tok),
		LastAttempt:        timeOf(s.LastSyncAttemptTime),
		NextSync:           timeOf(s.NextSyncTime),
		Failing:            synced != nil && synced.Status != metav1.ConditionTrue,
	}
	if !state.Failing {
		return state, nil
	}

	version, err := r.secretResourceVersion(ctx, tok)
	if err != nil || version == s.SecretResourceVersion {
		return state, err
	}
	creds, err := r.loadCredentials(ctx, tok)
	if err != nil {
		return state, err
	}
	used, known := r.usedCredentials.Load(client.ObjectKeyFromObject(tok))
	state.CredentialsChanged = !known || used != creds.fingerprint()
	return state, nil
}

// defaultSyncInterval applies when the API server did not default the field,
// as with objects stored before the default existed.
const defaultSyncInterval = 12 * time.Hour

func syncInterval(tok *intunev1alpha1.VppToken) time.Duration {
	if tok.Spec.SyncInterval == nil || tok.Spec.SyncInterval.Duration <= 0 {
		return defaultSyncInterval
	}
	return tok.Spec.SyncInterval.Duration
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

// commit writes the status once, as a merge patch, when it changed, then
// reports a changed outcome. A patch needs no resourceVersion, so a concurrent
// edit of the spec cannot make the write fail and the sync repeat.
func (r *VppTokenReconciler) commit(ctx context.Context, orig, tok *intunev1alpha1.VppToken) error {
	if equality.Semantic.DeepEqual(orig.Status, tok.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, tok, client.MergeFrom(orig))
	if apierrors.IsNotFound(err) {
		return nil // deleted while syncing: nothing left to report on
	}
	if err != nil {
		return err
	}
	r.reportOutcome(ctx, orig, tok)
	return nil
}

// reportOutcome logs and records an event when the Ready outcome changed.
func (r *VppTokenReconciler) reportOutcome(ctx context.Context, orig, tok *intunev1alpha1.VppToken) {
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
// updates to their status (its own writes), and the metadata of Secrets, so a
// changed Secret reaches the tokens that use it.
func (r *VppTokenReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &intunev1alpha1.VppToken{}, secretRefIndex,
		func(o client.Object) []string {
			return []string{o.(*intunev1alpha1.VppToken).Spec.Credentials.SecretRef.Name}
		})
	if err != nil {
		return err
	}

	return ctrl.NewControllerManagedBy(mgr).
		Named("vpptoken").
		For(&intunev1alpha1.VppToken{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tokensUsingSecret)).
		WithOptions(opts).
		Complete(r)
}

// tokensUsingSecret maps a Secret to the VppTokens in its namespace that use it.
func (r *VppTokenReconciler) tokensUsingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list intunev1alpha1.VppTokenList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{secretRefIndex: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing VppTokens for a Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, t := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&t)})
	}
	return reqs
}
