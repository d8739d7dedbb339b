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

// markSynced records a finished sync: the next one an interval (plus spread)
// after the attempt that started it, and Ready from the token's state. fresh
// says the sync finished within the syncLicenses call; otherwise a poll found
// it finished, and the attempt time stays that of the call.
func markSynced(tok *intunev1alpha1.VppToken, fresh bool, requestID string, now time.Time, jitter float64) {
	s := &tok.Status
	if fresh || s.LastSyncAttemptTime == nil {
		s.LastSyncAttemptTime = ptrTime(now)
	}
	s.ObservedGeneration = tok.Generation
	s.LastSuccessfulSyncTime = ptrTime(now)
	s.NextSyncTime = ptrTime(s.LastSyncAttemptTime.Add(schedule.NextSync(tok.Spec.Interval(), jitter)))
	s.ConsecutiveFailures = 0
	s.SyncPolls = 0

	synced := "Licences synced with Apple."
	if requestID != "" {
		synced = fmt.Sprintf("Licences synced with Apple (request-id %s).", requestID)
	}
	setCondition(tok, intunev1alpha1.ConditionSynced, metav1.ConditionTrue, intunev1alpha1.ReasonSynced, synced, now)

	valid, reason, msg := tokenState(s.State)
	ready := metav1.ConditionFalse
	if valid {
		ready, msg = metav1.ConditionTrue, synced
		if s.ExpirationDateTime != nil {
			msg = fmt.Sprintf("Licences synced; the token is valid until %s.",
				s.ExpirationDateTime.UTC().Format(time.DateOnly))
		}
	}
	setCondition(tok, intunev1alpha1.ConditionReady, ready, reason, msg, now)
}

// markInProgress records that Intune is still syncing, and when to look again.
// fresh says the syncLicenses call has just started it; polls counts the
// looks so far. A Ready token stays Ready meanwhile.
func markInProgress(tok *intunev1alpha1.VppToken, fresh bool, polls int32, requestID string, now time.Time) {
	s := &tok.Status
	if fresh || s.LastSyncAttemptTime == nil {
		s.LastSyncAttemptTime = ptrTime(now)
	}
	s.ObservedGeneration = tok.Generation
	s.SyncPolls = polls
	next := now.Add(schedule.PollDelay(polls))
	s.NextSyncTime = ptrTime(next)

	msg := fmt.Sprintf("Intune is syncing with Apple; the operator checks again at %s (check %d of %d).",
		next.UTC().Format(time.TimeOnly), polls+1, schedule.MaxPolls)
	if requestID != "" {
		msg = fmt.Sprintf("%s (request-id %s)", msg, requestID)
	}
	setCondition(tok, intunev1alpha1.ConditionSynced, metav1.ConditionUnknown, intunev1alpha1.ReasonSyncInProgress,
		msg, now)
	if !meta.IsStatusConditionTrue(s.Conditions, intunev1alpha1.ConditionReady) {
		setCondition(tok, intunev1alpha1.ConditionReady, metav1.ConditionUnknown, intunev1alpha1.ReasonSyncInProgress,
			"Waiting for Intune to finish syncing with Apple.", now)
	}
}

// markFailed records a failed attempt and schedules the retry by the backoff
// policy. Graph's last known view of the token stays as it was.
func markFailed(tok *intunev1alpha1.VppToken, f failure, now time.Time, jitter float64) {
	s := &tok.Status
	s.ObservedGeneration = tok.Generation
	s.LastSyncAttemptTime = ptrTime(now)
	s.LastFailureTime = ptrTime(now)
	s.ConsecutiveFailures++
	s.SyncPolls = 0
	s.NextSyncTime = ptrTime(now.Add(schedule.Backoff(s.ConsecutiveFailures, f.RetryAfter, jitter)))

	msg := f.message()
	setCondition(tok, intunev1alpha1.ConditionSynced, metav1.ConditionFalse, f.Reason, msg, now)
	setCondition(tok, intunev1alpha1.ConditionReady, metav1.ConditionFalse, f.Reason, msg, now)
}

// markPollFailed records a failed look at a sync in progress: the look is
// retried with backoff, as Intune may still be syncing, and counts towards
// the bound on looks.
func markPollFailed(tok *intunev1alpha1.VppToken, f failure, now time.Time, jitter float64) {
	s := &tok.Status
	s.LastFailureTime = ptrTime(now)
	s.ConsecutiveFailures++
	s.SyncPolls++
	next := now.Add(schedule.Backoff(s.ConsecutiveFailures, f.RetryAfter, jitter))
	s.NextSyncTime = ptrTime(next)
	setCondition(tok, intunev1alpha1.ConditionSynced, metav1.ConditionUnknown, intunev1alpha1.ReasonSyncInProgress,
		fmt.Sprintf("Intune is syncing with Apple, but the last check failed (%s: %s); the operator checks again at %s.",
			f.Reason, f.message(), next.UTC().Format(time.TimeOnly)), now)
}

// markSuspended records that the token is suspended; no sync is planned, and
// a sync Intune was running is no longer followed.
func markSuspended(tok *intunev1alpha1.VppToken, now time.Time) {
	tok.Status.ObservedGeneration = tok.Generation
	tok.Status.NextSyncTime = nil
	tok.Status.SyncPolls = 0
	const msg = "spec.suspend is true: the operator makes no Graph calls for this token."
	if c := meta.FindStatusCondition(tok.Status.Conditions, intunev1alpha1.ConditionSynced); c != nil &&
		c.Reason == intunev1alpha1.ReasonSyncInProgress {
		setCondition(tok, intunev1alpha1.ConditionSynced, metav1.ConditionUnknown, intunev1alpha1.ReasonSuspended, msg, now)
	}
	setCondition(tok, intunev1alpha1.ConditionReady, metav1.ConditionFalse, intunev1alpha1.ReasonSuspended, msg, now)
}

// markExpiry sets the Expiring condition, counting days as the schedule does.
func markExpiry(tok *intunev1alpha1.VppToken, e schedule.Expiry, now time.Time) {
	on := tok.Status.ExpirationDateTime.UTC().Format(time.DateOnly)
	days := func(n int) string {
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	const renew = "download a new token from Apple Business Manager (or Apple School Manager) and upload it to Intune."
	switch {
	case !e.Expiring:
		setCondition(tok, intunev1alpha1.ConditionExpiring, metav1.ConditionFalse, intunev1alpha1.ReasonNotExpiring,
			fmt.Sprintf("The token expires in %s, on %s.", days(e.DaysLeft), on), now)
	case e.DaysLeft < 0:
		setCondition(tok, intunev1alpha1.ConditionExpiring, metav1.ConditionTrue, intunev1alpha1.ReasonExpired,
			fmt.Sprintf("The token expired %s ago, on %s: %s", days(-e.DaysLeft), on, renew), now)
	default:
		setCondition(tok, intunev1alpha1.ConditionExpiring, metav1.ConditionTrue, intunev1alpha1.ReasonExpiresSoon,
			fmt.Sprintf("The token expires in %s, on %s: %s", days(e.DaysLeft), on, renew), now)
	}
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

func setCondition(tok *intunev1alpha1.VppToken, typ string, status metav1.ConditionStatus, reason, msg string,
	now time.Time) {
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
