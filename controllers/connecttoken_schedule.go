package controllers

import (
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// Schedule constants. They are part of the documented behaviour (README, DESIGN §4).
const (
	// minRequestInterval is the least time between two token requests of one ConnectToken,
	// whatever the token lifetime: a short-lived token must never turn into a hot loop.
	minRequestInterval = 5 * time.Second
	// minSafeLifetime is the shortest lifetime that can be refreshed safely: the refresh must
	// land at least minRequestInterval after issuance and leave a margin before expiry.
	minSafeLifetime = 3 * minRequestInterval
	// defaultRefreshPercentage is the share of the lifetime left when the token is refreshed.
	defaultRefreshPercentage = 33
	// maxJitterPercentage spreads refreshes of tokens issued together over this share of the lifetime.
	maxJitterPercentage = 10

	transientBackoffBase = 5 * time.Second
	transientBackoffCap  = 5 * time.Minute
	rejectedBackoffBase  = time.Minute
	rejectedBackoffCap   = time.Hour
	retryAfterCap        = time.Hour
)

// refreshBefore is how long before expiry a token of the given lifetime is refreshed: the
// spec's refreshBefore when it is shorter than the lifetime, its percentage when set, else a third.
func refreshBefore(spec connectv1alpha1.ConnectTokenSpec, lifetime time.Duration) time.Duration {
	if spec.RefreshBefore != nil && spec.RefreshBefore.Duration > 0 && spec.RefreshBefore.Duration < lifetime {
		return spec.RefreshBefore.Duration
	}
	pct := int64(defaultRefreshPercentage)
	if p := spec.RefreshBeforePercentage; p != nil && *p >= 1 && *p <= 99 {
		pct = int64(*p)
	}
	return time.Duration(int64(lifetime) * pct / 100)
}

// jitter is a deterministic share (up to maxJitterPercentage) of the lifetime for this UID, so
// tokens created together do not all refresh in the same second, and a restart keeps the schedule.
func jitter(uid types.UID, lifetime time.Duration) time.Duration {
	span := int64(lifetime) * maxJitterPercentage / 100 / int64(time.Second)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	return time.Duration(h.Sum64()%uint64(span)) * time.Second
}

// nextRefresh is when a token issued at issued with the given lifetime is refreshed:
// issued + lifetime − refreshBefore − jitter, truncated to seconds, never sooner than
// minRequestInterval after issuance and never later than expiry.
func nextRefresh(spec connectv1alpha1.ConnectTokenSpec, uid types.UID, issued time.Time, lifetime time.Duration) time.Time {
	at := issued.Add(lifetime - refreshBefore(spec, lifetime) - jitter(uid, lifetime)).Truncate(time.Second)
	if earliest := issued.Add(minRequestInterval); at.Before(earliest) {
		at = earliest
	}
	if expiry := issued.Add(lifetime); at.After(expiry) {
		at = expiry
	}
	return at
}

// lifetimeTooShort reports whether tokens of this lifetime cannot be refreshed safely.
func lifetimeTooShort(lifetime time.Duration) bool {
	return lifetime < minSafeLifetime
}

// backoff is how long to wait after the n-th consecutive failure (n ≥ 1) of the given class,
// honouring the server's Retry-After: transient failures start at 5 s and double to 5 min,
// rejections start at 1 min and double to 1 h. A deterministic jitter of up to +10 % (per UID and
// attempt) keeps a fleet of failing tokens from retrying in lockstep.
func backoff(rejected bool, n int32, retryAfter time.Duration, uid types.UID) time.Duration {
	base, limit := transientBackoffBase, transientBackoffCap
	if rejected {
		base, limit = rejectedBackoffBase, rejectedBackoffCap
	}
	d := base
	for i := int32(1); i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	_, _ = h.Write([]byte{byte(n)})
	d += time.Duration(h.Sum64() % uint64(d/10+1))
	if retryAfter > d {
		d = min(retryAfter, retryAfterCap)
	}
	return d.Truncate(time.Second)
}
