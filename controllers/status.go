package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/schedule"
)

// markSynced records a successful sync: Graph's view of the token, the next
// sync one interval on, and Ready from the token's state.
func markSynced(tok *intunev1alpha1.VppToken, res *graph.SyncResult, now time.Time) {
	s := &tok.Status
	copyGraphFields(s, res.Token)
	at := metav1.NewTime(now)
	s.ObservedGeneration = tok.Generation
	s.LastSyncAttemptTime = &at
	s.LastSuccessfulSyncTime = &at
	s.NextSyncTime = ptrTime(now.Add(syncInterval(tok)))
	s.ConsecutiveFailures = 0

	synced := "Licences synced with Apple."
	if res.RequestID != "" {
		synced = fmt.Sprintf("Licences synced with Apple (request-id %s).", res.RequestID)
	}
	setCondition(tok, intunev1alpha1.ConditionSynced, true, intunev1alpha1.ReasonSynced, synced, now)

	valid, reason, msg := tokenState(s.State)
	if valid {
		msg = synced
		if s.ExpirationDateTime != nil {
			msg = fmt.Sprintf("Licences synced; the token is valid until %s.",
				s.ExpirationDateTime.UTC().Format(time.DateOnly))
		}
	}
	setCondition(tok, intunev1alpha1.ConditionReady, valid, reason, msg, now)
}

// markFailed records a failed attempt and schedules the retry by the backoff
// policy. Graph's last known view of the token stays as it was.
func markFailed(tok *intunev1alpha1.VppToken, f failure, now time.Time) {
	s := &tok.Status
	at := metav1.NewTime(now)
	s.ObservedGeneration = tok.Generation
	s.LastSyncAttemptTime = &at
	s.LastFailureTime = &at
	s.ConsecutiveFailures++
	s.NextSyncTime = ptrTime(now.Add(schedule.Backoff(s.ConsecutiveFailures, f.RetryAfter)))

	msg := f.message()
	setCondition(tok, intunev1alpha1.ConditionSynced, false, f.Reason, msg, now)
	setCondition(tok, intunev1alpha1.ConditionReady, false, f.Reason, msg, now)
}

// markSuspended records that the token is suspended; no sync is planned.
func markSuspended(tok *intunev1alpha1.VppToken, now time.Time) {
	tok.Status.ObservedGeneration = tok.Generation
	tok.Status.NextSyncTime = nil
	setCondition(tok, intunev1alpha1.ConditionReady, false, intunev1alpha1.ReasonSuspended,
		"spec.suspend is true: the operator makes no Graph calls for this token.", now)
}

func copyGraphFields(s *intunev1alpha1.VppTokenStatus, t *graph.VppToken) {
	s.OrganizationName = t.OrganizationName
	s.AppleID = t.AppleID
	s.VppTokenAccountType = t.VppTokenAccountType
	s.State = t.State
	s.LastSyncStatus = t.LastSyncStatus
	s.AutomaticallyUpdateApps = t.AutomaticallyUpdateApps
	s.CountryOrRegion = t.CountryOrRegion
	s.ExpirationDateTime = metaTime(t.ExpirationDateTime)
	s.LastSyncDateTime = metaTime(t.LastSyncDateTime)
	s.LastModifiedDateTime = metaTime(t.LastModifiedDateTime)
}

func setCondition(tok *intunev1alpha1.VppToken, typ string, ok bool, reason, msg string, now time.Time) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&tok.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: tok.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// metaTime converts Graph's UTC time, truncated to the second as status stores it.
func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return ptrTime(t.UTC().Truncate(time.Second))
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
