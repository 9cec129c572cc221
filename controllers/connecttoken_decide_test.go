package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

func TestNeedsToken(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	fresh := &tokenState{IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(4 * time.Minute), RequestHash: "h1"}
	due := &tokenState{IssuedAt: now.Add(-250 * time.Second), ExpiresAt: now.Add(50 * time.Second), RequestHash: "h1"}
	ct := func(mut func(*connectv1alpha1.ConnectToken)) *connectv1alpha1.ConnectToken {
		c := &connectv1alpha1.ConnectToken{ObjectMeta: metav1.ObjectMeta{UID: "u"}}
		if mut != nil {
			mut(c)
		}
		return c
	}
	issuedBefore := func(c *connectv1alpha1.ConnectToken) {
		c.Status.LastIssuedTime = &metav1.Time{Time: now.Add(-time.Hour)}
	}
	cases := []struct {
		name   string
		in     tokenInput
		why    string
		needed bool
	}{
		{"a new ConnectToken needs its first token", tokenInput{ct: ct(nil), now: now, requestHash: "h1"}, whyFirstIssue, true},
		{"a deleted or edited Secret is restored", tokenInput{ct: ct(issuedBefore), now: now, requestHash: "h1"}, whyRestore, true},
		{"a fresh token for the same request is kept", tokenInput{ct: ct(nil), current: fresh, now: now, requestHash: "h1"}, "", false},
		{"changed credentials or spec re-issue", tokenInput{ct: ct(nil), current: fresh, now: now, requestHash: "h2"}, whyRequestChanged, true},
		{"a new force-refresh value refreshes", tokenInput{ct: ct(func(c *connectv1alpha1.ConnectToken) {
			c.Annotations = map[string]string{connectv1alpha1.ForceRefreshAnnotation: "2"}
			c.Status.LastForceRefresh = "1"
		}), current: fresh, now: now, requestHash: "h1"}, whyForceRefresh, true},
		{"a force-refresh value the Secret's token answered does not, even with a stale status", tokenInput{ct: ct(func(c *connectv1alpha1.ConnectToken) {
			c.Annotations = map[string]string{connectv1alpha1.ForceRefreshAnnotation: "2"}
			c.Status.LastForceRefresh = "1"
		}), current: &tokenState{IssuedAt: fresh.IssuedAt, ExpiresAt: fresh.ExpiresAt, RequestHash: "h1", ForceRefresh: "2"}, now: now, requestHash: "h1"}, "", false},
		{"a handled force-refresh value does not", tokenInput{ct: ct(func(c *connectv1alpha1.ConnectToken) {
			c.Annotations = map[string]string{connectv1alpha1.ForceRefreshAnnotation: "1"}
			c.Status.LastForceRefresh = "1"
		}), current: fresh, now: now, requestHash: "h1"}, "", false},
		{"a token past its refresh time is refreshed", tokenInput{ct: ct(nil), current: due, now: now, requestHash: "h1"}, whyScheduleRefresh, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			why, needed := needsToken(tc.in)
			g.Expect(needed).To(Equal(tc.needed))
			g.Expect(why).To(Equal(tc.why))
		})
	}
}

func TestRequestGate(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }
	cases := []struct {
		name string
		st   connectv1alpha1.ConnectTokenStatus
		hash string
		want time.Time
	}{
		{"nothing holds a first request back", connectv1alpha1.ConnectTokenStatus{}, "h", time.Time{}},
		{"never two requests within 5 s", connectv1alpha1.ConnectTokenStatus{LastIssuedTime: at(-2 * time.Second)}, "h", now.Add(3 * time.Second)},
		{"a failure streak for the same request waits for its backoff",
			connectv1alpha1.ConnectTokenStatus{FailedAttempts: 2, FailedRequestHash: "h", NextRefreshTime: at(time.Minute)}, "h", now.Add(time.Minute)},
		{"a change of spec or credentials ends the backoff",
			connectv1alpha1.ConnectTokenStatus{FailedAttempts: 2, FailedRequestHash: "old", NextRefreshTime: at(time.Minute)}, "h", time.Time{}},
		{"a backoff that has passed does not hold back",
			connectv1alpha1.ConnectTokenStatus{FailedAttempts: 1, FailedRequestHash: "h", NextRefreshTime: at(-time.Second)}, "h", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ct := &connectv1alpha1.ConnectToken{Status: tc.st}
			g.Expect(requestGate(ct, nil, tc.hash, now)).To(Equal(tc.want))
		})
	}
}

func TestRequestHashIsOneWayAndCoversTheRequest(t *testing.T) {
	g := NewWithT(t)
	spec := connectv1alpha1.ConnectTokenSpec{IssuerURL: "https://a.authkit.app", Scopes: []string{"b", "a"}}
	h := requestHashes(spec, "client", "super-secret")
	g.Expect(h.request).NotTo(ContainSubstring("super-secret"))
	g.Expect(requestHashes(spec, "client", "other").request).NotTo(Equal(h.request))
	reordered := spec
	reordered.Scopes = []string{"a", "b"}
	g.Expect(requestHashes(reordered, "client", "super-secret")).To(Equal(h), "scopes are a set")
	other := spec
	other.AdditionalParameters = map[string]string{"audience": "x"}
	g.Expect(requestHashes(other, "client", "super-secret").spec).NotTo(Equal(h.spec))
}
