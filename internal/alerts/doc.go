// Package alerts holds no code: its tests check the monitoring artefacts of config/ — the
// PrometheusRule (config/prometheus/alerts.yaml) against the plain rule file promtool tests
// (config/prometheus/rules), the runbook links, and the Grafana dashboard
// (config/grafana) — against the metrics the operator exports.
package alerts
