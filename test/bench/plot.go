package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotReady draws one repetition's Ready ConnectTokens over time against the raw API-server
// ceiling (the slope at which the API server takes two writes per object), the 0.70 goal and the
// minimal-writes ceiling (what the API server allows with no operator at all).
func plotReady(path string, r repResult, n int) error {
	series := r.Issuance.Series
	if len(series) == 0 {
		return fmt.Errorf("no Ready series")
	}
	end := series[len(series)-1].T
	raw := r.Raw.PairsPerSec

	ready := make(plotter.XYs, 0, len(series)+1)
	ready = append(ready, plotter.XY{X: 0, Y: 0})
	for _, p := range series {
		ready = append(ready, plotter.XY{X: p.T, Y: float64(p.Ready)})
	}
	ideal := func(rate float64) plotter.XYs {
		full := float64(n) / rate
		return plotter.XYs{{X: 0, Y: 0}, {X: full, Y: float64(n)}, {X: math.Max(end, full), Y: float64(n)}}
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d ConnectTokens: Ready over time (repetition %d)", n, r.Rep)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "seconds since the first ConnectToken was created"
	p.Y.Label.Text = "ConnectTokens Ready=True"
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Max = float64(n) * 1.05
	p.Add(plotter.NewGrid())

	readyLine, err := plotter.NewLine(ready)
	if err != nil {
		return err
	}
	readyLine.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	readyLine.Width = vg.Points(2)

	ceilLine, err := plotter.NewLine(ideal(raw))
	if err != nil {
		return err
	}
	ceilLine.Color = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	ceilLine.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}

	goalLine, err := plotter.NewLine(ideal(0.70 * raw))
	if err != nil {
		return err
	}
	goalLine.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	goalLine.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}

	p.Add(ceilLine, goalLine, readyLine)
	var minLine *plotter.Line
	if m := r.Minimal.ItemsPerSec; m > 0 {
		if minLine, err = plotter.NewLine(ideal(m)); err != nil {
			return err
		}
		minLine.Color = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
		minLine.Dashes = []vg.Length{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}
		p.Add(minLine)
	}
	p.Legend.Add(fmt.Sprintf("operator: %.0f/s (%.2f of the ceiling)", r.Issuance.PerSecond, r.Issuance.RatioToRaw), readyLine)
	p.Legend.Add(fmt.Sprintf("raw API-server ceiling: %.0f create+update pairs/s", raw), ceilLine)
	p.Legend.Add(fmt.Sprintf("goal: 0.70 of the ceiling (%.0f/s)", 0.70*raw), goalLine)
	if minLine != nil {
		p.Legend.Add(fmt.Sprintf("minimal writes, no operator: %.0f/s", r.Minimal.ItemsPerSec), minLine)
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	p.Legend.Padding = vg.Points(2)
	return p.Save(9*vg.Inch, 5*vg.Inch, path)
}
