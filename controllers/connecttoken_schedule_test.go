package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

func TestRefreshSchedule(t *testing.T) {
	issued := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	const uid = types.UID("0b7c3a4e-5f55-4d6b-9a51-3f6a3f6a3f6a")
	cases := []struct {
		name     string
		spec     connectv1alpha1.ConnectTokenSpec
		lifetime time.Duration
		// want is the refresh time before the per-UID jitter is subtracted.
		want time.Duration
	}{
		{"refreshes at 2/3 of the lifetime by default", connectv1alpha1.ConnectTokenSpec{}, 300 * time.Second, 201 * time.Second},
		{"refreshBefore is used when shorter than the lifetime",
			connectv1alpha1.ConnectTokenSpec{RefreshBefore: &metav1.Duration{Duration: time.Minute}}, 300 * time.Second, 240 * time.Second},
		{"refreshBefore not shorter than the lifetime falls back to the default",
			connectv1alpha1.ConnectTokenSpec{RefreshBefore: &metav1.Duration{Duration: time.Hour}}, 300 * time.Second, 201 * time.Second},
		{"refreshBeforePercentage takes that share of the actual lifetime",
			connectv1alpha1.ConnectTokenSpec{RefreshBeforePercentage: ptr.To[int32](50)}, 3600 * time.Second, 1800 * time.Second},
		{"a tiny lifetime never refreshes sooner than 5 s after issuance", connectv1alpha1.ConnectTokenSpec{}, 6 * time.Second, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			at := nextRefresh(tc.spec, uid, issued, tc.lifetime)
			j := jitter(uid, tc.lifetime)
			g.Expect(j).To(BeNumerically("<=", tc.lifetime/10))
			want := issued.Add(tc.want - j)
			if min := issued.Add(minRequestInterval); want.Before(min) {
				want = min
			}
			g.Expect(at).To(Equal(want))
			g.Expect(at).To(Equal(at.Truncate(time.Second)), "truncated to seconds")
			g.Expect(at.Sub(issued)).To(BeNumerically(">=", minRequestInterval))
			g.Expect(at).To(BeTemporally("<=", issued.Add(tc.lifetime)))
		})
	}
}

func TestJitterIsDeterministicPerUIDAndSpreadsTokens(t *testing.T) {
	g := NewWithT(t)
	g.Expect(jitter("a", 300*time.Second)).To(Equal(jitter("a", 300*time.Second)))
	seen := map[time.Duration]bool{}
	for _, uid := range []types.UID{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[jitter(uid, 300*time.Second)] = true
	}
	g.Expect(len(seen)).To(BeNumerically(">", 3))
}

func TestLifetimeTooShort(t *testing.T) {
	g := NewWithT(t)
	g.Expect(lifetimeTooShort(10 * time.Second)).To(BeTrue())
	g.Expect(lifetimeTooShort(30 * time.Second)).To(BeFalse())
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		name       string
		rejected   bool
		n          int32
		retryAfter time.Duration
		// lo and hi bound the result: the base doubled n−1 times plus up to 10 % jitter.
		lo, hi time.Duration
	}{
		{"transient starts at 5 s", false, 1, 0, 5 * time.Second, 6 * time.Second},
		{"transient doubles", false, 3, 0, 20 * time.Second, 22 * time.Second},
		{"transient caps at 5 min", false, 20, 0, 5 * time.Minute, 330 * time.Second},
		{"rejected starts at a minute", true, 1, 0, time.Minute, 66 * time.Second},
		{"rejected caps at an hour", true, 30, 0, time.Hour, 66 * time.Minute},
		{"Retry-After is honoured when longer", false, 1, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		{"Retry-After is capped at an hour", false, 1, 5 * time.Hour, time.Hour, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			d := backoff(tc.rejected, tc.n, tc.retryAfter, "uid")
			g.Expect(d).To(BeNumerically(">=", tc.lo))
			g.Expect(d).To(BeNumerically("<=", tc.hi))
			g.Expect(d).To(Equal(backoff(tc.rejected, tc.n, tc.retryAfter, "uid")), "deterministic")
		})
	}
}
