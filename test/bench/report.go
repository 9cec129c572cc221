package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// repResult is one repetition's figures.
type repResult struct {
	Rep      int            `json:"rep"`
	Raw      rawResult      `json:"raw"`
	Minimal  minimalResult  `json:"minimalWritesCeiling"`
	Issuance issuanceResult `json:"issuance"`
	Restart  restartResult  `json:"restart"`
	Refresh  refreshResult  `json:"refresh"`
	Memory   memoryResult   `json:"memory"`
}

type machine struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpuModel"`
	MemTotal    string `json:"memTotal"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"goVersion"`
	LoadAtStart string `json:"loadAverageAtStart"`
	LoadAtEnd   string `json:"loadAverageAtEnd,omitempty"`
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAtStart: loadAvg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	return m
}

func (m machine) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %s, load average %s", m.CPUs, m.CPUModel, m.GoVersion, m.LoadAtStart)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// results is what bench-results.json holds.
type results struct {
	Options      options           `json:"options"`
	Machine      machine           `json:"machine"`
	ManagerFlags []string          `json:"managerFlags"`
	Started      time.Time         `json:"started"`
	Seconds      float64           `json:"seconds"`
	Summary      []summaryRow      `json:"summary"`
	Reps         []repResult       `json:"repetitions"`
	Peer         map[string]any    `json:"peer"`
	Goals        map[string]string `json:"goals"`
}

type summaryRow struct {
	Figure string    `json:"figure"`
	Values []float64 `json:"values"`
	Min    float64   `json:"min"`
	Median float64   `json:"median"`
	Max    float64   `json:"max"`
	Goal   string    `json:"goal,omitempty"`
	Met    *bool     `json:"met,omitempty"`
	Peer   string    `json:"peer,omitempty"`
}

func newResults(o options) *results {
	return &results{
		Options: o, Machine: readMachine(), Started: time.Now().UTC(),
		ManagerFlags: managerFlags("127.0.0.1:<free port>", o),
		Peer: map[string]any{
			"name":                     "External Secrets Operator 2.9.0, webhook generator, same kind of machine",
			"issuancesPerSecond":       67,
			"tokens":                   1000,
			"ratioToRawCeiling":        0.10,
			"apiWritesPerIssuance":     4.00,
			"rssRatio":                 2.6,
			"rssRatioUnrelatedSecrets": 2000,
			"rssRatioUnrelatedSizeKiB": 64,
		},
	}
}

// goal is a target: the worst repetition decides whether it is met.
type goal struct {
	op string // ">=", "<=" or "="
	v  float64
}

func (g goal) String() string {
	switch g.op {
	case "=":
		if g.v == math.Trunc(g.v) && g.v != 1 {
			return fmt.Sprintf("= %.0f", g.v)
		}
		return fmt.Sprintf("= %.2f", g.v)
	default:
		return fmt.Sprintf("%s %.2f", strings.Replace(strings.Replace(g.op, ">=", "≥", 1), "<=", "≤", 1), g.v)
	}
}

func (g goal) met(values []float64) bool {
	for _, v := range values {
		ok := false
		switch g.op {
		case ">=":
			ok = v >= g.v
		case "<=":
			ok = v <= g.v
		case "=":
			ok = math.Abs(v-g.v) < 1e-9
		}
		if !ok {
			return false
		}
	}
	return true
}

// row is one figure of the table.
type row struct {
	figure   string
	decimals int
	value    func(repResult) float64
	goal     *goal
	peer     string
}

func rows(n int) []row {
	return []row{
		{figure: "raw API-server ceiling, create+update pairs/s", value: func(r repResult) float64 { return r.Raw.PairsPerSec }},
		{figure: "diagnostic: minimal-writes ceiling, items/s", value: func(r repResult) float64 { return r.Minimal.ItemsPerSec }},
		{figure: "diagnostic: minimal-writes / raw ceiling", decimals: 2, value: func(r repResult) float64 { return r.Minimal.ItemsPerSec / r.Raw.PairsPerSec }},
		{figure: fmt.Sprintf("diagnostic: seconds to create the %d", n), decimals: 2, value: func(r repResult) float64 { return r.Issuance.CreateSeconds }},
		{figure: fmt.Sprintf("issuance: seconds until %d Ready", n), decimals: 2, value: func(r repResult) float64 { return r.Issuance.Seconds }},
		{figure: "issuance: ConnectTokens Ready per second", value: func(r repResult) float64 { return r.Issuance.PerSecond },
			peer: "67/s (1000 tokens)"},
		{figure: "issuance rate / raw ceiling", decimals: 2, value: func(r repResult) float64 { return r.Issuance.RatioToRaw },
			goal: &goal{">=", 0.70}, peer: "≈ 0.10"},
		{figure: "diagnostic: issuance / minimal-writes ceiling", decimals: 2, value: func(r repResult) float64 { return r.Issuance.RatioToMinimal }},
		{figure: "token requests per issuance (issued / N)", decimals: 2, value: func(r repResult) float64 { return r.Issuance.RequestsPerIssuance },
			goal: &goal{"=", 1}},
		{figure: "manager API writes per issuance", decimals: 2, value: func(r repResult) float64 { return r.Issuance.WritesPerIssuance },
			peer: "4.00"},
		{figure: "manager CPU per issuance, ms", decimals: 2, value: func(r repResult) float64 { return r.Issuance.CPUMsPerIssuance }},
		{figure: "reconcile latency p50, ms", decimals: 1, value: func(r repResult) float64 { return r.Issuance.ReconcileP50Ms }},
		{figure: "reconcile latency p99, ms", decimals: 1, value: func(r repResult) float64 { return r.Issuance.ReconcileP99Ms }},
		{figure: "restart: token requests", value: func(r repResult) float64 { return float64(r.Restart.TokenRequests) },
			goal: &goal{"=", 0}},
		{figure: "restart: manager API writes", value: func(r repResult) float64 { return r.Restart.APIWrites },
			goal: &goal{"=", 0}},
		{figure: "restart: manager API GETs (incl. LISTs)", value: func(r repResult) float64 { return r.Restart.APIGets }},
		{figure: "restart: seconds until all re-verified", decimals: 2, value: func(r repResult) float64 { return r.Restart.VerifySeconds }},
		{figure: "steady state: refreshes in the window", value: func(r repResult) float64 { return float64(r.Refresh.Refreshes) }},
		{figure: "steady state: API writes per refresh", decimals: 2, value: func(r repResult) float64 { return r.Refresh.WritesPerRefresh },
			goal: &goal{"<=", 2}},
		{figure: "diagnostic: no-op writes per refresh", decimals: 2, value: func(r repResult) float64 { return r.Refresh.NoOpWritesPerRefresh }},
		{figure: "steady state: token requests per refresh", decimals: 2, value: func(r repResult) float64 { return r.Refresh.RequestsPerRefresh },
			goal: &goal{"=", 1}},
		{figure: "RSS with N ConnectTokens, MiB", decimals: 1, value: func(r repResult) float64 { return mib(r.Memory.RSSBefore) }},
		{figure: "RSS after unrelated Secrets, MiB", decimals: 1, value: func(r repResult) float64 { return mib(r.Memory.RSSAfter) }},
		{figure: "RSS ratio", decimals: 2, value: func(r repResult) float64 { return r.Memory.Ratio },
			goal: &goal{"<=", 1.15}, peer: "× 2.6 (2000 × 64 KiB)"},
	}
}

func (res *results) finish(started time.Time) {
	res.Seconds = time.Since(started).Seconds()
	res.Machine.LoadAtEnd = loadAvg()
	res.Goals = map[string]string{}
	res.Summary = nil
	for _, rw := range rows(res.Options.N) {
		sr := summaryRow{Figure: rw.figure, Peer: rw.peer}
		for _, r := range res.Reps {
			sr.Values = append(sr.Values, rw.value(r))
		}
		sr.Min, sr.Median, sr.Max = minMedMax(sr.Values)
		if rw.goal != nil {
			met := rw.goal.met(sr.Values)
			sr.Goal, sr.Met = rw.goal.String(), &met
			res.Goals[rw.figure] = map[bool]string{true: "met", false: "missed"}[met]
		}
		res.Summary = append(res.Summary, sr)
	}
}

func minMedMax(xs []float64) (lo, med, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, median(xs), hi
}

// table renders the summary as a Markdown table (it reads as plain text too).
func (res *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "N = %d ConnectTokens, %d repetition(s), %d unrelated Secrets of %d KiB; goals judged on the worst repetition\n\n",
		res.Options.N, len(res.Reps), res.Options.Unrelated, res.Options.UnrelatedSize>>10)
	fmt.Fprintf(&b, "| %-46s | %9s | %9s | %9s | %-7s | %-6s | %-23s |\n", "figure", "min", "median", "max", "goal", "", "peer: ESO 2.9.0 webhook")
	fmt.Fprintf(&b, "|%s|%s:|%s:|%s:|%s|%s|%s|\n", strings.Repeat("-", 48), strings.Repeat("-", 10), strings.Repeat("-", 10),
		strings.Repeat("-", 10), strings.Repeat("-", 9), strings.Repeat("-", 8), strings.Repeat("-", 25))
	for i, rw := range rows(res.Options.N) {
		sr := res.Summary[i]
		verdict := ""
		if sr.Met != nil {
			verdict = map[bool]string{true: "met", false: "MISSED"}[*sr.Met]
		}
		f := func(v float64) string { return formatValue(v, rw.decimals, rw.goal != nil && rw.goal.op == "=") }
		fmt.Fprintf(&b, "| %-46s | %9s | %9s | %9s | %-7s | %-6s | %-23s |\n",
			rw.figure, f(sr.Min), f(sr.Median), f(sr.Max), sr.Goal, verdict, rw.peer)
	}
	return b.String()
}

// formatValue prints v with the row's decimals or, for a row whose goal is an exact number, with
// enough more to show that a value that would print as that number is not exactly it.
func formatValue(v float64, decimals int, exact bool) string {
	if math.IsNaN(v) {
		return "–"
	}
	if d := math.Abs(v - math.Round(v)); exact && decimals > 0 && d > 1e-9 && d < 0.5*math.Pow10(-decimals) {
		return fmt.Sprintf("%.4f", v) // e.g. 1.0005, not a misleading 1.00
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

func (res *results) write(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
