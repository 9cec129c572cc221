package connect

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedHosts bounds the per-host limiters kept in memory. Evicting a
// host forgets its budget, which only matters past this many distinct hosts.
const maxLimitedHosts = 1024

// hostLimiters spaces token requests per token host (host:port), so a burst
// of reconciles (a restart, 500 ConnectTokens applied at once) cannot hammer
// one issuer, while different issuers do not wait for each other.
type hostLimiters struct {
	limit rate.Limit
	burst int
	cache *lru[string, *rate.Limiter]
}

func newHostLimiters(limit rate.Limit, burst int) *hostLimiters {
	return &hostLimiters{limit: limit, burst: burst, cache: newLRU[string, *rate.Limiter](maxLimitedHosts, nil)}
}

// wait blocks until host may receive a request or ctx ends. When ctx's
// deadline comes before the limiter's slot, it fails at once, gives the slot
// back and reports the wait in RetryAfter.
func (h *hostLimiters) wait(ctx context.Context, host string) *Error {
	lim, _ := h.cache.getOrAdd(host, func() (*rate.Limiter, error) { return rate.NewLimiter(h.limit, h.burst), nil })
	r := lim.Reserve()
	if !r.OK() { // burst 0 with a finite limit: never admitted
		return &Error{Kind: KindTransient, msg: fmt.Sprintf("token request to %s refused by the client-side rate limit", host)}
	}
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		r.Cancel()
		return &Error{
			Kind:       KindTransient,
			RetryAfter: min(d, maxRetryAfter),
			msg:        fmt.Sprintf("token request to %s delayed by the client-side rate limit beyond the deadline (next slot in %s)", host, d.Round(time.Millisecond)),
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return &Error{Kind: KindTransient, msg: fmt.Sprintf("token request to %s canceled while waiting for the client-side rate limit", host)}
	}
}
