package controllers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
)

// failure is a sync attempt that did not succeed, as conditions show it.
type failure struct {
	Reason  string
	Message string
	// RetryAfter is the server's requested wait, zero if none.
	RetryAfter time.Duration
	// RequestID is Graph's request-id, when there was a reply.
	RequestID string
}

// requiredPermission is the Graph application permission syncLicenses needs.
const requiredPermission = "DeviceManagementServiceConfig.ReadWrite.All"

// classify maps an error from the Graph client to a condition reason and a
// message that says what to fix. It is the one place where that mapping lives:
//
//   - identity platform 429: Throttled; other refusals: CredentialsInvalid
//   - Graph 401: PermissionDenied when Intune's inner code is Forbidden (the app
//     has no Intune rights), else CredentialsInvalid (token not accepted)
//   - Graph 403: PermissionDenied; 404: TokenNotFound; 429: Throttled
//   - Graph 5xx, timeouts, refused connections, malformed replies: GraphUnavailable
//   - any other Graph 4xx: BadRequest
//
// advice says what to check about the credentials when sign-in is refused.
func classify(err error, tokenID, advice string) failure {
	var (
		apiErr  *graph.APIError
		authErr *graph.AuthError
		unavail *graph.UnavailableError
	)
	switch {
	case errors.As(err, &authErr):
		if authErr.StatusCode == http.StatusTooManyRequests {
			return failure{Reason: intunev1alpha1.ReasonThrottled, RetryAfter: authErr.RetryAfter,
				Message: "The identity platform is throttling sign-ins for this app; the operator backs off."}
		}
		return failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("Sign-in failed: %s. %s", authErr, advice)}

	case errors.As(err, &apiErr):
		return classifyAPIError(apiErr, tokenID)

	case errors.As(err, &unavail):
		return failure{Reason: intunev1alpha1.ReasonGraphUnavailable, RequestID: unavail.RequestID,
			Message: fmt.Sprintf("No usable reply from %s: %s; the operator retries with backoff.",
				unavail.Host, unavail.Problem)}

	default:
		return failure{Reason: intunev1alpha1.ReasonGraphUnavailable,
			Message: fmt.Sprintf("Sync failed: %v; the operator retries with backoff.", err)}
	}
}

func classifyAPIError(e *graph.APIError, tokenID string) failure {
	f := failure{RetryAfter: e.RetryAfter, RequestID: e.RequestID}
	graphSays := ""
	if e.Message != "" {
		graphSays = " Graph: " + e.Message + "."
	}
	switch {
	case e.StatusCode == http.StatusForbidden ||
		(e.StatusCode == http.StatusUnauthorized && e.InnerCode == "Forbidden"):
		f.Reason = intunev1alpha1.ReasonPermissionDenied
		f.Message = fmt.Sprintf("Graph refused the call: grant the app the application permission %s "+
			"with admin consent, and check the tenant has an Intune licence.%s", requiredPermission, graphSays)
	case e.StatusCode == http.StatusUnauthorized:
		f.Reason = intunev1alpha1.ReasonCredentialsInvalid
		f.Message = "Graph did not accept the access token: check that the app belongs to the tenant " +
			"and that spec.cloud names the tenant's cloud." + graphSays
	case e.StatusCode == http.StatusNotFound:
		f.Reason = intunev1alpha1.ReasonTokenNotFound
		f.Message = fmt.Sprintf("Intune has no vppToken %s in this tenant: check spec.tokenId against "+
			"GET /deviceAppManagement/vppTokens.", tokenID)
	case e.StatusCode == http.StatusTooManyRequests:
		f.Reason = intunev1alpha1.ReasonThrottled
		f.Message = "Graph is throttling this tenant; the operator backs off."
	case e.StatusCode >= 500:
		f.Reason = intunev1alpha1.ReasonGraphUnavailable
		f.Message = fmt.Sprintf("Graph answered %d; the operator retries with backoff.%s", e.StatusCode, graphSays)
	default:
		f.Reason = intunev1alpha1.ReasonBadRequest
		f.Message = fmt.Sprintf("Graph rejected the request with %d %s.%s", e.StatusCode, e.Code, graphSays)
	}
	return f
}

// message appends the request-id, which Microsoft support asks for, when known.
func (f failure) message() string {
	if f.RequestID == "" {
		return f.Message
	}
	return fmt.Sprintf("%s (request-id %s)", f.Message, f.RequestID)
}

// tokenState maps Graph's state of a synced token to the Ready condition. It
// returns ok for a valid token, else the reason and what the admin should do.
func tokenState(state string) (ok bool, reason, message string) {
	switch state {
	case "valid":
		return true, intunev1alpha1.ReasonSynced, ""
	case "expired":
		return false, intunev1alpha1.ReasonTokenExpired,
			"The token has expired: download a new one from Apple Business Manager (or Apple School Manager) " +
				"and upload it to Intune."
	case "invalid":
		return false, intunev1alpha1.ReasonTokenInvalid,
			"The token is invalid (expired, or its Managed Apple ID changed): download a new one from " +
				"Apple Business Manager and upload it over the old one in Intune."
	case "assignedToExternalMDM":
		return false, intunev1alpha1.ReasonAssignedToExternalMDM,
			"Another MDM holds this token: remove it there, or reclaim it in Intune."
	case "duplicateLocationId":
		return false, intunev1alpha1.ReasonDuplicateLocation,
			"The same location was uploaded twice and has stopped syncing: delete the duplicate token in Intune."
	default:
		return false, intunev1alpha1.ReasonTokenStateUnknown,
			fmt.Sprintf("Graph reports the token's state as %q, which this operator does not know: "+
				"check the token in Intune.", state)
	}
}

// rejectedStatus is the failure recorded when the API server refused the
// status a sync produced. It names the refused fields, not their values.
func rejectedStatus(err error) failure {
	var fields []string
	if st, ok := err.(apierrors.APIStatus); ok && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			if c.Field != "" && !slices.Contains(fields, c.Field) {
				fields = append(fields, c.Field)
			}
		}
	}
	what := "the status"
	if len(fields) > 0 {
		what = strings.Join(fields, ", ")
	}
	return failure{Reason: intunev1alpha1.ReasonGraphUnavailable,
		Message: fmt.Sprintf("The API server refused what Graph sent (%s); the operator retries with backoff.", what)}
}
