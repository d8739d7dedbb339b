package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
)

var _ = Describe("classify", func() {
	DescribeTable("maps each Graph client error to one reason",
		func(err error, reason string, retryAfter time.Duration, requestID string) {
			f := classify(fmt.Errorf("wrapped: %w", err), seedTokenID, "Check the app.")
			Expect(f.Reason).To(Equal(reason))
			Expect(f.RetryAfter).To(Equal(retryAfter))
			Expect(f.RequestID).To(Equal(requestID))
			Expect(f.message()).NotTo(BeEmpty())
			if requestID != "" {
				Expect(f.message()).To(HaveSuffix("(request-id " + requestID + ")"))
			}
		},
		Entry("a rejected secret", &graph.AuthError{StatusCode: 401, ErrorCode: "invalid_client", AADSTS: 7000215},
			intunev1alpha1.ReasonCredentialsInvalid, time.Duration(0), ""),
		Entry("a malformed tenant ID", &graph.AuthError{Problem: "invalid tenant ID"},
			intunev1alpha1.ReasonCredentialsInvalid, time.Duration(0), ""),
		Entry("a throttled sign-in", &graph.AuthError{StatusCode: 429, RetryAfter: time.Minute},
			intunev1alpha1.ReasonThrottled, time.Minute, ""),
		Entry("Graph 401", &graph.APIError{StatusCode: 401, Code: "InvalidAuthenticationToken", RequestID: "r1"},
			intunev1alpha1.ReasonCredentialsInvalid, time.Duration(0), "r1"),
		Entry("Graph 401 with Intune's inner Forbidden", &graph.APIError{StatusCode: 401, Code: "UnknownError",
			InnerCode: "Forbidden", RequestID: "r2"}, intunev1alpha1.ReasonPermissionDenied, time.Duration(0), "r2"),
		Entry("Graph 403", &graph.APIError{StatusCode: 403, Code: "Forbidden", RequestID: "r3"},
			intunev1alpha1.ReasonPermissionDenied, time.Duration(0), "r3"),
		Entry("Graph 404", &graph.APIError{StatusCode: 404, Code: "ResourceNotFound", RequestID: "r4"},
			intunev1alpha1.ReasonTokenNotFound, time.Duration(0), "r4"),
		Entry("Graph 400", &graph.APIError{StatusCode: 400, Code: "BadRequest", RequestID: "r5"},
			intunev1alpha1.ReasonBadRequest, time.Duration(0), "r5"),
		Entry("Graph 429", &graph.APIError{StatusCode: 429, RetryAfter: 7 * time.Second, RequestID: "r6"},
			intunev1alpha1.ReasonThrottled, 7*time.Second, "r6"),
		Entry("Graph 503 with Retry-After", &graph.APIError{StatusCode: 503, RetryAfter: time.Minute, RequestID: "r7"},
			intunev1alpha1.ReasonGraphUnavailable, time.Minute, "r7"),
		Entry("Graph 504", &graph.APIError{StatusCode: 504, RequestID: "r8"},
			intunev1alpha1.ReasonGraphUnavailable, time.Duration(0), "r8"),
		Entry("no reply", &graph.UnavailableError{Host: "graph.microsoft.com", Problem: "request timed out"},
			intunev1alpha1.ReasonGraphUnavailable, time.Duration(0), ""),
		Entry("anything else", errors.New("surprise"),
			intunev1alpha1.ReasonGraphUnavailable, time.Duration(0), ""),
	)

	DescribeTable("tokenState tells the admin what to do about each state",
		func(state string, valid bool, reason, advice string) {
			ok, r, msg := tokenState(state)
			Expect(ok).To(Equal(valid))
			Expect(r).To(Equal(reason))
			Expect(msg).To(ContainSubstring(advice))
		},
		Entry("valid", "valid", true, intunev1alpha1.ReasonSynced, ""),
		Entry("expired", "expired", false, intunev1alpha1.ReasonTokenExpired, "download a new one"),
		Entry("invalid", "invalid", false, intunev1alpha1.ReasonTokenInvalid, "Managed Apple ID"),
		Entry("held by another MDM", "assignedToExternalMDM", false, intunev1alpha1.ReasonAssignedToExternalMDM, "remove it there"),
		Entry("a duplicate location", "duplicateLocationId", false, intunev1alpha1.ReasonDuplicateLocation, "duplicate"),
		Entry("Graph's unknown", "unknown", false, intunev1alpha1.ReasonTokenStateUnknown, `"unknown"`),
		Entry("a value newer than the operator", "pendingRenewal", false, intunev1alpha1.ReasonTokenStateUnknown, `"pendingRenewal"`),
	)
})

var _ = Describe("checkIDs", func() {
	DescribeTable("says what is wrong with the tenant and client IDs before anything is sent",
		func(app graph.AppCredentials, reason, message string) {
			f := checkIDs(`Secret "app"`, app, "add the keys")
			if reason == "" {
				Expect(f).To(BeNil())
				return
			}
			Expect(f).NotTo(BeNil())
			Expect(f.Reason).To(Equal(reason))
			Expect(f.Message).To(ContainSubstring(message))
			Expect(f.Message).NotTo(ContainSubstring("hunter2"))
		},
		Entry("good values", graph.AppCredentials{TenantID: tenantID, ClientID: clientID, ClientSecret: "hunter2"}, "", ""),
		Entry("a tenant domain", graph.AppCredentials{TenantID: "contoso.onmicrosoft.com", ClientID: clientID}, "", ""),
		Entry("both IDs missing", graph.AppCredentials{ClientSecret: "hunter2"},
			intunev1alpha1.ReasonCredentialsMissing, `No client or tenant ID for Secret "app": add the keys.`),
		Entry("the client ID missing", graph.AppCredentials{TenantID: tenantID},
			intunev1alpha1.ReasonCredentialsMissing, "No client ID"),
		Entry("a client ID that is not a GUID", graph.AppCredentials{TenantID: tenantID, ClientID: "my-app", ClientSecret: "hunter2"},
			intunev1alpha1.ReasonCredentialsInvalid, "Application (client) ID"),
		Entry("a tenant domain with a label longer than DNS allows",
			graph.AppCredentials{TenantID: strings.Repeat("a", 64) + ".onmicrosoft.com", ClientID: clientID},
			intunev1alpha1.ReasonCredentialsInvalid, "Directory (tenant) ID"),
		Entry("a tenant that is neither GUID nor domain", graph.AppCredentials{TenantID: "../x", ClientID: clientID, ClientSecret: "hunter2"},
			intunev1alpha1.ReasonCredentialsInvalid, "Directory (tenant) ID"),
	)
})
