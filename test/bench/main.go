// Command bench measures connect-token-operator on a fresh local control plane per repetition
// (etcd + kube-apiserver from internal/testenv) with the real bin/manager and bin/fake-connect,
// against the API server's own write ceiling: issuance throughput, token requests per issuance,
// a restart, steady-state refreshes, memory with unrelated Secrets and CPU per issuance.
// `make bench` runs it (`make bench-quick` with -n 200 -reps 1); docs/benchmarks.md explains
// the figures. Run `make build` first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenop/connect-token-operator/internal/testenv"
)

type options struct {
	N             int           `json:"n"`
	Reps          int           `json:"reps"`
	Unrelated     int           `json:"unrelated"`
	UnrelatedSize int           `json:"unrelatedSize"`
	Workers       int           `json:"workers"`
	Window        time.Duration `json:"-"`
	WindowText    string        `json:"refreshWindow"`
	ManagerArgs   string        `json:"managerArgs,omitempty"`
	ReadyWatch    bool          `json:"readyWatch"`
	ProfileDir    string        `json:"-"`
	ManagerPprof  string        `json:"-"`
	Out           string        `json:"-"`
	Plot          string        `json:"-"`
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.IntVar(&o.N, "n", 2000, "ConnectTokens to issue (and Secrets in the raw-ceiling phase)")
	flag.IntVar(&o.Reps, "reps", 3, "repetitions, each on a fresh control plane")
	flag.IntVar(&o.Unrelated, "unrelated", 5000, "unrelated Secrets created in the memory phase")
	flag.IntVar(&o.UnrelatedSize, "unrelated-size", 64<<10, "bytes of data in each unrelated Secret")
	flag.IntVar(&o.Workers, "k", 16, "client goroutines creating and updating objects")
	flag.DurationVar(&o.Window, "refresh-window", 60*time.Second, "length of the steady-state refresh window")
	flag.StringVar(&o.ManagerArgs, "manager-args", "", "extra bin/manager flags, space-separated, after (so overriding) the benchmark's own")
	flag.BoolVar(&o.ReadyWatch, "ready-watch", false,
		"count Ready ConnectTokens from a watch, sampled every 200 ms, instead of a List every 200 ms (which loads the API server)")
	flag.StringVar(&o.ProfileDir, "profile-dir", "",
		"capture CPU profiles of the first repetition's issuance phase into this directory (kube-apiserver's; the manager's with -manager-pprof)")
	flag.StringVar(&o.ManagerPprof, "manager-pprof", "", "loopback address for the manager's --pprof-bind-address, profiled with -profile-dir")
	flag.StringVar(&o.Out, "out", "bench-results.json", "JSON results file")
	flag.StringVar(&o.Plot, "plot", "docs/benchmarks.png", "PNG plot of Ready ConnectTokens over time (first repetition); empty skips it")
	flag.Parse()
	o.WindowText = o.Window.String()
	if o.N < 1 || o.Reps < 1 || o.Workers < 1 || o.Unrelated < 0 || o.UnrelatedSize < 0 {
		fmt.Fprintln(os.Stderr, "bench: -n, -reps and -k must be positive, -unrelated and -unrelated-size not negative")
		return 2
	}
	if o.Window < 30*time.Second {
		fmt.Fprintln(os.Stderr, "bench: -refresh-window must be at least 30s: the 30 s tokens are refreshed about every 20 s")
		return 2
	}

	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard))) // the clients' logs are not the benchmark's output
	root := testenv.Root()
	for _, b := range []string{"manager", "fake-connect"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			fmt.Fprintf(os.Stderr, "bench: bin/%s not found: run 'make build' first\n", b)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now()
	res := newResults(o)
	say("connect-token-operator benchmark: N=%d, %d repetition(s), %d unrelated Secrets of %d bytes; %s",
		o.N, o.Reps, o.Unrelated, o.UnrelatedSize, res.Machine.summary())
	say("manager flags: %s", strings.Join(managerFlags("127.0.0.1:<free port>", o), " "))
	for rep := 1; rep <= o.Reps; rep++ {
		r, err := runRep(ctx, o, rep)
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				say("interrupted: everything the benchmark started has been stopped")
				return 130
			}
			say("repetition %d failed: %v", rep, err)
			return 1
		}
		res.Reps = append(res.Reps, r)
	}
	res.finish(started)
	fmt.Println()
	fmt.Print(res.table())
	if err := res.write(o.Out); err != nil {
		say("writing %s: %v", o.Out, err)
		return 1
	}
	say("wrote %s", o.Out)
	if o.Plot != "" {
		if err := plotReady(o.Plot, res.Reps[0], o.N); err != nil {
			say("plotting %s: %v", o.Plot, err)
			return 1
		}
		say("wrote %s", o.Plot)
	}
	say("done in %s", time.Since(started).Round(time.Second))
	return 0
}

func say(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// managerFlags are the manager's flags, raised so the API server rather than a client-side
// limit is the brake (the kubeconfig flag comes first, separately).
func managerFlags(metricsAddr string, o options) []string {
	extra := strings.Fields(o.ManagerArgs)
	if o.ManagerPprof != "" {
		extra = append([]string{"--pprof-bind-address=" + o.ManagerPprof}, extra...)
	}
	return append([]string{
		"--kube-api-qps=1000", "--kube-api-burst=2000", "--max-concurrent-reconciles=32",
		"--token-requests-per-second=10000", "--token-request-burst=10000",
		"--metrics-bind-address=" + metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:0",
	}, extra...)
}

// runRep runs every phase once on a fresh control plane, and stops everything it started,
// whatever happens.
func runRep(ctx context.Context, o options, rep int) (rr repResult, err error) {
	say("repetition %d/%d: starting a local control plane", rep, o.Reps)
	r, err := newRig(o, rep)
	if err != nil {
		return rr, err
	}
	defer func() {
		if err != nil && r.mgr != nil && ctx.Err() == nil {
			fmt.Printf("last manager log lines:\n%s\n", r.mgr.tail(15))
		}
		r.cleanup()
	}()
	if err = r.start(ctx); err != nil {
		return rr, err
	}
	rr.Rep = rep
	if rr.Raw, err = rawCeiling(ctx, r.c, "bench-raw", o.N, o.Workers); err != nil {
		return rr, err
	}
	say("  raw API-server ceiling: %d create+update pairs in %.2fs = %.0f pairs/s", o.N, rr.Raw.Seconds, rr.Raw.PairsPerSec)
	say("    CPU ms per pair %s", rr.Raw.CPU.scaled(1000/float64(o.N)))
	if rr.Minimal, err = r.minimalCeiling(ctx, "bench-minimal", o.N, o.Workers); err != nil {
		return rr, err
	}
	say("  minimal-writes ceiling (ConnectToken create + Secret create + status patch, no operator): %.0f/s", rr.Minimal.ItemsPerSec)
	say("    CPU ms per item %s; API server mean latency ms %s", rr.Minimal.CPU.scaled(1000/float64(o.N)), rr.Minimal.LatencyMs)
	if rr.Issuance, err = r.issuance(ctx, rr.Raw.PairsPerSec, rr.Minimal.ItemsPerSec); err != nil {
		return rr, err
	}
	is := rr.Issuance
	say("  issuance: %d Ready in %.2fs = %.0f/s (%.2f of the raw ceiling); %.2f token requests and %.2f API writes per issuance",
		o.N, is.Seconds, is.PerSecond, is.RatioToRaw, is.RequestsPerIssuance, is.WritesPerIssuance)
	say("    all %d created in %.2fs; CPU ms per issuance %s", o.N, is.CreateSeconds, is.CPU.scaled(1000/float64(o.N)))
	say("    %s", is.Breakdown)
	say("    API server mean latency ms %s; %d Ready polls, median %.1f ms", is.LatencyMs, is.Polls, is.ListMsMedian)
	if rr.Restart, err = r.restart(ctx); err != nil {
		return rr, err
	}
	rs := rr.Restart
	say("  restart: every ConnectToken re-verified %.2fs after exec; %d token requests, %.0f API writes, %.0f GETs",
		rs.VerifySeconds, rs.TokenRequests, rs.APIWrites, rs.APIGets)
	say("    %s", rs.Breakdown)
	if rr.Refresh, err = r.steadyRefresh(ctx); err != nil {
		return rr, err
	}
	rf := rr.Refresh
	say("  steady state: %d refreshes in %s, %.2f API writes and %.2f token requests per refresh",
		rf.Refreshes, o.Window, rf.WritesPerRefresh, rf.RequestsPerRefresh)
	say("    %s; stored changes %s", rf.Breakdown, rf.Changes)
	if rr.Memory, err = r.memory(ctx); err != nil {
		return rr, err
	}
	m := rr.Memory
	say("  memory: RSS %.1f MiB → %.1f MiB with %d unrelated Secrets (×%.2f)", mib(m.RSSBefore), mib(m.RSSAfter), o.Unrelated, m.Ratio)
	return rr, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
