package alerts_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

const (
	ruleFilePath       = "../../config/prometheus/rules/connecttoken.rules.yaml"
	prometheusRulePath = "../../config/prometheus/alerts.yaml"
	kustomizationPath  = "../../config/prometheus/kustomization.yaml"
	runbookPath        = "../../docs/runbook.md"
	metricsSourcePath  = "../../controllers/connecttoken_metrics.go"
	runbookURL         = "https://github.com/tokenop/connect-token-operator/blob/main/docs/runbook.md"
)

// designMetrics are the metrics of DESIGN.md §5 with their kind; alerts and dashboard may use
// only these (a histogram through its _bucket, _sum and _count series).
var designMetrics = map[string]string{
	"connecttoken_ready":                          "gauge",
	"connecttoken_expiration_timestamp_seconds":   "gauge",
	"connecttoken_next_refresh_timestamp_seconds": "gauge",
	"connecttoken_token_requests_total":           "counter",
	"connecttoken_token_request_duration_seconds": "histogram",
}

// perConnectTokenMetrics carry the labels namespace and name; the request metrics carry none.
var perConnectTokenMetrics = []string{
	"connecttoken_ready", "connecttoken_expiration_timestamp_seconds", "connecttoken_next_refresh_timestamp_seconds",
}

// seriesNames are the series names a PromQL expression may select.
func seriesNames() map[string]bool {
	names := map[string]bool{}
	for name, kind := range designMetrics {
		if kind == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
			continue
		}
		names[name] = true
	}
	return names
}

// promqlFunctions are PromQL's functions and aggregation operators.
var promqlFunctions = toSet(`abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time bottomk ceil
	changes clamp clamp_max clamp_min cos cosh count count_over_time count_values day_of_month day_of_week day_of_year
	days_in_month deg delta deriv double_exponential_smoothing exp floor group histogram_avg histogram_count
	histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta
	increase irate label_join label_replace last_over_time limit_ratio limitk ln log10 log2 mad_over_time max
	max_over_time min min_over_time minute month pi predict_linear present_over_time quantile quantile_over_time rad
	rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev
	stddev_over_time stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk vector year`)

// promqlKeywords are PromQL's keywords and literals that look like identifiers.
var promqlKeywords = toSet(`and or unless bool offset by without on ignoring group_left group_right atan2 inf nan start end`)

func toSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

var (
	promqlStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlToken    = regexp.MustCompile(`[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?[a-zA-Z]*|[A-Za-z_:][A-Za-z0-9_:]*`)
)

// metricNames returns the metric names a PromQL expression selects, and an error for a
// function PromQL does not have. It is a small lexer, not a parser (the main module does not
// depend on Prometheus; promtool checks the syntax of the rules and, in hack/promtool/test.sh,
// of the dashboard's queries): it drops string literals, label matchers, range and subquery
// brackets, grouping label lists and numbers (with duration units), then sorts the remaining
// identifiers into functions, keywords and metric names.
func metricNames(expr string) ([]string, error) {
	s := promqlStrings.ReplaceAllString(expr, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promqlToken.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if word[0] == '.' || (word[0] >= '0' && word[0] <= '9') {
			continue // a number or a duration
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			if !promqlFunctions[word] && !promqlKeywords[strings.ToLower(word)] {
				return nil, fmt.Errorf("unknown PromQL function %q in %q", word, expr)
			}
			continue
		}
		if promqlKeywords[strings.ToLower(word)] {
			continue
		}
		names = append(names, word)
	}
	return names, nil
}

func TestMetricNamesLexer(t *testing.T) {
	for expr, want := range map[string][]string{
		`max by (namespace, name) (connecttoken_ready) == 0`: {"connecttoken_ready"},
		`sum by (le) (rate(connecttoken_token_request_duration_seconds_bucket{result="failed"}[5m] offset 1h)) > 1e3`: {
			"connecttoken_token_request_duration_seconds_bucket"},
		`a{x=~"b|c"} / on (namespace) group_left (name) b_total and ignoring(result) c > bool 0.5`: {"a", "b_total", "c"},
		`count(x == 0) or vector(0)`:                   {"x"},
		`histogram_quantile(0.99, sum by (le) (y))`:    {"y"},
		`time() - max_over_time(z[1h:5m])`:             {"z"},
		`label_replace(up, "a", "$1", "b", "(.*)")`:    {"up"},
		`sum without (pod) (rate(requests[$__range]))`: {"requests"},
	} {
		got, err := metricNames(expr)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, %v; want %q", expr, got, err, want)
		}
	}
	if _, err := metricNames(`rates(x[5m])`); err == nil {
		t.Errorf("an unknown function must be an error")
	}
}

// TestDesignMetricsAreTheOperatorsMetrics reads the metric names the reconciler registers
// (controllers/connecttoken_metrics.go) so a renamed metric breaks this test, not the alerts.
func TestDesignMetricsAreTheOperatorsMetrics(t *testing.T) {
	g := NewWithT(t)
	file, err := parser.ParseFile(token.NewFileSet(), metricsSourcePath, nil, 0)
	g.Expect(err).NotTo(HaveOccurred())
	found := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
			return true
		}
		kind := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(sel.Sel.Name, "New"), "Vec"))
		if opts, ok := call.Args[0].(*ast.CompositeLit); ok {
			for _, elt := range opts.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if key, isIdent := kv.Key.(*ast.Ident); ok && isIdent && key.Name == "Name" {
					if lit, isLit := kv.Value.(*ast.BasicLit); isLit {
						name, err := strconv.Unquote(lit.Value)
						g.Expect(err).NotTo(HaveOccurred())
						found[name] = kind
					}
				}
			}
		}
		return true
	})
	g.Expect(found).To(Equal(designMetrics))
}

type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var rf ruleFile
	readYAML(t, ruleFilePath, &rf)
	var rules []rule
	for _, group := range rf.Groups {
		rules = append(rules, group.Rules...)
	}
	return rules
}

// TestPrometheusRuleIsTheRuleFile: the PrometheusRule's spec is exactly the rule file that
// promtool checks and unit-tests.
func TestPrometheusRuleIsTheRuleFile(t *testing.T) {
	g := NewWithT(t)
	var plain map[string]any
	readYAML(t, ruleFilePath, &plain)
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	readYAML(t, prometheusRulePath, &pr)
	g.Expect(pr.APIVersion).To(Equal("monitoring.coreos.com/v1"))
	g.Expect(pr.Kind).To(Equal("PrometheusRule"))
	g.Expect(pr.Metadata).To(HaveKey("name"))
	g.Expect(pr.Spec).To(Equal(plain),
		"config/prometheus/alerts.yaml's spec differs from rules/connecttoken.rules.yaml: copy the groups, indented by two spaces")
}

func TestKustomizationListsTheAlerts(t *testing.T) {
	g := NewWithT(t)
	var k struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(kustomizationPath)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(yaml.Unmarshal(data, &k)).To(Succeed())
	g.Expect(k.Resources).To(ContainElements("monitor.yaml", "alerts.yaml"))
}

// markdownAnchors returns the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	anchors := map[string]bool{}
	inFence := false
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")] = true
	}
	return anchors
}

// TestAlertsAreDocumented: every alert has a severity, a summary, a description naming what it
// is about, and a runbook_url whose section exists in docs/runbook.md.
func TestAlertsAreDocumented(t *testing.T) {
	anchors := markdownAnchors(t, runbookPath)
	var names []string
	for _, r := range loadRules(t) {
		names = append(names, r.Alert)
		t.Run(r.Alert, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(r.Record).To(BeEmpty(), "this file holds alerts only")
			g.Expect(r.Labels).To(HaveKeyWithValue("severity", BeElementOf("warning", "critical")))
			g.Expect(r.Annotations).To(HaveKeyWithValue("summary", Not(BeEmpty())))
			g.Expect(r.Annotations).To(HaveKey("description"))
			if r.Alert == "ConnectTokenRequestsFailing" {
				g.Expect(r.Annotations["description"]).To(ContainSubstring("{{ $labels.host }}"))
			} else {
				g.Expect(r.Annotations["description"]).To(ContainSubstring("{{ $labels.namespace }}/{{ $labels.name }}"))
			}
			anchor := strings.ToLower(r.Alert)
			g.Expect(r.Annotations).To(HaveKeyWithValue("runbook_url", runbookURL+"#"+anchor))
			g.Expect(anchors).To(HaveKey(anchor), "docs/runbook.md needs a section ## %s", r.Alert)
		})
	}
	sort.Strings(names)
	NewWithT(t).Expect(names).To(Equal([]string{
		"ConnectTokenExpiringWithoutRefresh", "ConnectTokenNotReady", "ConnectTokenRequestsFailing"}))
}

// TestRunbookLinksResolve: the runbook's links to its own sections point at headings.
func TestRunbookLinksResolve(t *testing.T) {
	g := NewWithT(t)
	anchors := markdownAnchors(t, runbookPath)
	data, err := os.ReadFile(runbookPath)
	g.Expect(err).NotTo(HaveOccurred())
	links := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(data), -1)
	g.Expect(links).NotTo(BeEmpty())
	for _, link := range links {
		g.Expect(anchors).To(HaveKey(link[1]), "runbook link #%s has no heading", link[1])
	}
}

// TestRuleExpressionsUseExportedMetrics: the alerts select only metrics the operator exports,
// aggregate away the scrape's target labels, and keep the labels their annotations print.
func TestRuleExpressionsUseExportedMetrics(t *testing.T) {
	allowed := seriesNames()
	for _, r := range loadRules(t) {
		t.Run(r.Alert, func(t *testing.T) {
			g := NewWithT(t)
			names, err := metricNames(r.Expr)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(names).NotTo(BeEmpty())
			for _, name := range names {
				g.Expect(allowed).To(HaveKey(name), "%s is not a metric the operator exports", name)
			}
			perToken := slices.ContainsFunc(names, func(n string) bool { return slices.Contains(perConnectTokenMetrics, n) })
			if perToken {
				g.Expect(r.Expr).To(ContainSubstring("by (namespace, name)"))
			} else {
				g.Expect(r.Expr).To(ContainSubstring("by (host)"))
			}
		})
	}
}
