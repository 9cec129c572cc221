package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one read of the manager's metrics endpoint (plain HTTP, --metrics-secure=false).
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(ctx context.Context, url string) (scrape, error) {
	return scrapeWith(ctx, http.DefaultClient, url)
}

// scrapeWith scrapes url with hc (for the API server's /metrics: its authenticated client).
func scrapeWith(ctx context.Context, hc *http.Client, url string) (scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return scrape(mfs), nil
}

func labelsOf(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// sum adds the values of the counter or gauge name over the series match accepts (nil: all).
func (s scrape) sum(name string, match func(map[string]string) bool) float64 {
	mf := s[name]
	if mf == nil {
		return 0
	}
	var total float64
	for _, m := range mf.GetMetric() {
		if match != nil && !match(labelsOf(m)) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

func byLabel(key string, values ...string) func(map[string]string) bool {
	return func(l map[string]string) bool {
		for _, v := range values {
			if l[key] == v {
				return true
			}
		}
		return false
	}
}

// writeMethods are the HTTP methods of API writes in rest_client_requests_total.
var writeMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

// apiWrites is the manager's number of API write requests (all client-go clients of the process).
func (s scrape) apiWrites() float64 {
	return s.sum("rest_client_requests_total", byLabel("method", writeMethods...))
}

// apiRequests is the manager's number of API requests with one method (GET, LIST is a GET too).
func (s scrape) apiRequests(method string) float64 {
	return s.sum("rest_client_requests_total", byLabel("method", method))
}

// reconciles is the ConnectToken controller's number of reconciles, all results.
func (s scrape) reconciles() float64 {
	return s.sum("controller_runtime_reconcile_total", byLabel("controller", "connecttoken"))
}

// queueDepth is the ConnectToken work queue's depth.
func (s scrape) queueDepth() float64 {
	return s.sum("workqueue_depth", byLabel("name", "connecttoken"))
}

// histogram is a cumulative histogram: upper bound → count of observations ≤ bound.
type histogram struct {
	bounds []float64 // finite upper bounds, ascending
	counts []float64 // cumulative counts, same order
	total  float64
}

// hist returns the histogram name, summed over the series match accepts.
func (s scrape) hist(name string, match func(map[string]string) bool) histogram {
	byBound := map[float64]float64{}
	var h histogram
	if mf := s[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			if m.Histogram == nil || (match != nil && !match(labelsOf(m))) {
				continue
			}
			hg := m.GetHistogram()
			h.total += count(hg.GetSampleCount(), hg.GetSampleCountFloat())
			for _, b := range hg.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), +1) {
					byBound[b.GetUpperBound()] += count(b.GetCumulativeCount(), b.GetCumulativeCountFloat())
				}
			}
		}
	}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h
}

func count(i uint64, f float64) float64 {
	if i != 0 {
		return float64(i)
	}
	return f
}

// minus returns the observations made between an earlier histogram and h.
func (h histogram) minus(earlier histogram) histogram {
	prev := map[float64]float64{}
	for i, b := range earlier.bounds {
		prev[b] = earlier.counts[i]
	}
	d := histogram{bounds: h.bounds, total: h.total - earlier.total}
	for i, b := range h.bounds {
		d.counts = append(d.counts, h.counts[i]-prev[b])
	}
	return d
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does: find the bucket
// holding rank q·total and interpolate linearly inside it (the first bucket starts at 0; ranks
// beyond the last finite bound return that bound). NaN without observations.
func (h histogram) quantile(q float64) float64 {
	if h.total <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.total
	lower, below := 0.0, 0.0
	for i, upper := range h.bounds {
		if h.counts[i] >= rank {
			inBucket := h.counts[i] - below
			if inBucket <= 0 {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/inBucket
		}
		lower, below = upper, h.counts[i]
	}
	return h.bounds[len(h.bounds)-1]
}

// reconcileTime is the ConnectToken controller's reconcile-duration histogram.
func (s scrape) reconcileTime() histogram {
	return s.hist("controller_runtime_reconcile_time_seconds", byLabel("controller", "connecttoken"))
}

// counts are counter values by a label combination, e.g. "PATCH 200" or "APPLY secrets 200".
type counts map[string]float64

// by sums the counter name by the values of keys (joined with spaces), over series match accepts.
func (s scrape) by(name string, match func(map[string]string) bool, keys ...string) counts {
	out := counts{}
	mf := s[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		l := labelsOf(m)
		if match != nil && !match(l) {
			continue
		}
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if l[k] != "" {
				parts = append(parts, l[k])
			}
		}
		out[strings.Join(parts, " ")] += m.GetCounter().GetValue()
	}
	return out
}

// minus returns the increase of every key since earlier, leaving out keys that did not move.
func (c counts) minus(earlier counts) counts {
	out := counts{}
	for k, v := range c {
		if d := v - earlier[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// managerRequests are the manager's API requests by method and status code.
func (s scrape) managerRequests() counts {
	return s.by("rest_client_requests_total", nil, "method", "code")
}

// reconcileResults are the ConnectToken reconciles by result (success, error, requeue, requeue_after).
func (s scrape) reconcileResults() counts {
	return s.by("controller_runtime_reconcile_total", byLabel("controller", "connecttoken"), "result")
}

// serverWrites are the API server's write requests by verb, resource[/subresource] and code, from
// its own apiserver_request_total (every client's): which kinds of object the writes went to.
func (s scrape) serverWrites() counts {
	out := counts{}
	for _, m := range s["apiserver_request_total"].GetMetric() {
		l := labelsOf(m)
		switch l["verb"] {
		case "GET", "LIST", "WATCH", "CONNECT":
			continue
		}
		res := l["resource"]
		if l["subresource"] != "" {
			res += "/" + l["subresource"]
		}
		out[l["verb"]+" "+res+" "+l["code"]] += m.GetCounter().GetValue()
	}
	return out
}

// String lists the counts, largest first.
func (c counts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if v := c[k]; v == math.Trunc(v) || math.Abs(v) >= 100 {
			parts = append(parts, fmt.Sprintf("%s: %.0f", k, v))
		} else {
			parts = append(parts, fmt.Sprintf("%s: %.2f", k, v))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// scaled returns the counts multiplied by f (for example CPU seconds → ms per item).
func (c counts) scaled(f float64) counts {
	out := counts{}
	for k, v := range c {
		out[k] = v * f
	}
	return out
}

// requestLatency is the API server's mean request duration in ms between two scrapes, by verb
// and resource[/subresource] (apiserver_request_duration_seconds; watches left out).
func requestLatency(before, after scrape) counts {
	sums := func(s scrape) (sum, n counts) {
		sum, n = counts{}, counts{}
		for _, m := range s["apiserver_request_duration_seconds"].GetMetric() {
			l := labelsOf(m)
			if l["verb"] == "WATCH" || l["verb"] == "CONNECT" || m.Histogram == nil {
				continue
			}
			k := l["verb"] + " " + l["resource"]
			if l["subresource"] != "" {
				k += "/" + l["subresource"]
			}
			sum[k] += m.GetHistogram().GetSampleSum()
			n[k] += count(m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleCountFloat())
		}
		return sum, n
	}
	s0, n0 := sums(before)
	s1, n1 := sums(after)
	out := counts{}
	for k, n := range n1.minus(n0) {
		if n > 0 {
			out[k] = 1000 * (s1[k] - s0[k]) / n
		}
	}
	return out
}
