package alerts_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const (
	dashboardPath = "../../config/grafana/connect-token-operator.json"
	datasourceUID = "${DS_PROMETHEUS}"
)

type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Definition string      `json:"definition"`
	Datasource *datasource `json:"datasource"`
	Multi      bool        `json:"multi"`
	IncludeAll bool        `json:"includeAll"`
	AllValue   string      `json:"allValue"`
}

func loadDashboard(t *testing.T) (dashboard, []panel) {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatalf("reading %s: %v", dashboardPath, err)
	}
	if !json.Valid(data) {
		t.Fatalf("%s is not valid JSON", dashboardPath)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("decoding %s: %v", dashboardPath, err)
	}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, all
}

// TestDashboardIsAPortableGrafanaDashboard: valid JSON, a uid, the Prometheus data source chosen
// through the DS_PROMETHEUS variable (never a fixed uid), and a namespace variable.
func TestDashboardIsAPortableGrafanaDashboard(t *testing.T) {
	g := NewWithT(t)
	d, panels := loadDashboard(t)
	g.Expect(d.Title).NotTo(BeEmpty())
	g.Expect(d.UID).To(MatchRegexp(`^[a-zA-Z0-9_-]{1,40}$`))
	g.Expect(d.SchemaVersion).To(BeNumerically(">=", 36))

	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	g.Expect(vars).To(HaveKey("DS_PROMETHEUS"))
	g.Expect(vars["DS_PROMETHEUS"].Type).To(Equal("datasource"))
	g.Expect(vars["DS_PROMETHEUS"].Query).To(Equal("prometheus"))
	g.Expect(vars).To(HaveKey("namespace"))
	ns := vars["namespace"]
	g.Expect(ns.Type).To(Equal("query"))
	g.Expect(ns.Datasource).To(Equal(&datasource{Type: "prometheus", UID: datasourceUID}))
	g.Expect(ns.Definition).To(Equal("label_values(connecttoken_ready, namespace)"))
	g.Expect(ns.Multi && ns.IncludeAll).To(BeTrue())
	g.Expect(ns.AllValue).To(Equal(".*"))

	ids := map[int]bool{}
	for _, p := range panels {
		g.Expect(ids).NotTo(HaveKey(p.ID), "panel ids must be unique")
		ids[p.ID] = true
		g.Expect(p.Title).NotTo(BeEmpty())
		g.Expect(p.GridPos.W).To(BeNumerically(">", 0), p.Title)
		g.Expect(p.GridPos.X+p.GridPos.W).To(BeNumerically("<=", 24), p.Title)
		if p.Type == "row" {
			continue
		}
		g.Expect(p.Datasource).To(Equal(&datasource{Type: "prometheus", UID: datasourceUID}), p.Title)
		g.Expect(p.Targets).NotTo(BeEmpty(), p.Title)
		for _, tg := range p.Targets {
			g.Expect(tg.Datasource).To(Equal(&datasource{Type: "prometheus", UID: datasourceUID}), p.Title)
			g.Expect(tg.RefID).NotTo(BeEmpty(), p.Title)
		}
	}
}

// TestDashboardQueriesUseExportedMetrics: every query selects only metrics the operator exports
// (PromQL functions aside), and every per-ConnectToken query honours the namespace variable.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	_, panels := loadDashboard(t)
	allowed := seriesNames()
	used := map[string]bool{}
	for _, p := range panels {
		for _, tg := range p.Targets {
			t.Run(p.Title+"/"+tg.RefID, func(t *testing.T) {
				g := NewWithT(t)
				g.Expect(tg.Expr).NotTo(BeEmpty())
				names, err := metricNames(tg.Expr)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(names).NotTo(BeEmpty())
				for _, name := range names {
					g.Expect(allowed).To(HaveKey(name), "%s is not a metric the operator exports", name)
					used[name] = true
					if slices.Contains(perConnectTokenMetrics, name) {
						g.Expect(tg.Expr).To(ContainSubstring(name+`{namespace=~"$namespace"}`),
							"per-ConnectToken metrics are filtered by the namespace variable")
					}
				}
			})
		}
	}
	for name := range designMetrics {
		if designMetrics[name] == "histogram" {
			name += "_bucket"
		}
		NewWithT(t).Expect(used).To(HaveKey(name), "the dashboard shows every metric")
	}
}

// TestDashboardHasTheAgreedPanels: the panels the operator's users were promised.
func TestDashboardHasTheAgreedPanels(t *testing.T) {
	g := NewWithT(t)
	_, panels := loadDashboard(t)
	byTitle := map[string][]string{}
	for _, p := range panels {
		for _, tg := range p.Targets {
			byTitle[p.Title] = append(byTitle[p.Title], strings.Join(strings.Fields(tg.Expr), " "))
		}
	}
	g.Expect(byTitle).To(HaveKeyWithValue("Ready by ConnectToken",
		ContainElement(`max by (namespace, name) (connecttoken_ready{namespace=~"$namespace"})`)))
	g.Expect(byTitle).To(HaveKeyWithValue("Time to expiry",
		ConsistOf(`max by (namespace, name) (connecttoken_expiration_timestamp_seconds{namespace=~"$namespace"}) - time()`)))
	g.Expect(byTitle).To(HaveKeyWithValue("Request rate by result",
		ConsistOf(`sum by (result) (rate(connecttoken_token_requests_total[5m]))`)))
	g.Expect(byTitle).To(HaveKeyWithValue("Request latency p50 / p99", ConsistOf(
		`histogram_quantile(0.5, sum by (le) (rate(connecttoken_token_request_duration_seconds_bucket[5m])))`,
		`histogram_quantile(0.99, sum by (le) (rate(connecttoken_token_request_duration_seconds_bucket[5m])))`)))
}
