//go:build tools

// Package tools pins promtool, which build.sh builds into bin/promtool.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
