// Package e2e is the end-to-end suite: the built manager binary (bin/manager) runs as a
// subprocess with nothing but the ServiceAccount token and RBAC of the rendered installer,
// against a real kube-apiserver and etcd, next to the fake WorkOS Connect server
// (bin/fake-connect); everything a user does goes through the real kubectl.
//
// The control plane is started once, in TestMain. Without the binaries every test skips with a
// message saying what to build; with CI=true a missing binary fails the suite instead.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
	"github.com/tokenop/connect-token-operator/internal/testenv"
)

const (
	operatorNamespace = "connect-token-operator-system"
	operatorSA        = "connect-token-operator-controller-manager"
	crdName           = "connecttokens.connect.tokenop.dev"

	// The client fake-connect is started with; the README quickstart uses it.
	e2eClientID     = "client_e2e"
	e2eClientSecret = "secret_e2e"
	tokenLifetime   = 60 * time.Second
)

var (
	repoRoot    = testenv.Root()
	kubectlBin  = filepath.Join(testenv.AssetsDir(), "kubectl")
	managerBin  = filepath.Join(repoRoot, "bin", "manager")
	fakeBin     = filepath.Join(repoRoot, "bin", "fake-connect")
	installYAML = filepath.Join(repoRoot, "dist", "install.yaml")
)

// The suite's state, set up by TestMain.
var (
	s          *suite
	skipReason string // binaries missing: skip (fail with CI=true)
	setupErr   error  // binaries present but the setup failed: fail
)

type suite struct {
	dir             string // temp dir: kubeconfigs, logs
	env             *envtest.Environment
	adminKubeconfig string
	saKubeconfig    string
	installer       string // where the installer came from, for the log
	fake            *proc
	fakeURL         string
	mgr             *manager

	teardownOnce sync.Once
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if missing := missingBinaries(); len(missing) > 0 {
		skipReason = fmt.Sprintf("end-to-end binaries missing: %s; build them with "+
			"'go build -o bin/manager ./cmd && go build -o bin/fake-connect ./cmd/fake-connect' and 'make envtest' "+
			"(or run 'make test-e2e')", strings.Join(missing, ", "))
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "connect-token-e2e-")
	if err != nil {
		setupErr = err
		return m.Run()
	}
	st := &suite{dir: dir}
	stopGuards := st.guard()
	defer stopGuards()
	if setupErr = st.setup(); setupErr != nil {
		st.printLogTails(os.Stderr)
	} else {
		s = st
	}
	code := m.Run()
	st.teardown()
	if code != 0 || setupErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: manager and fake-connect logs kept in %s\n", dir)
	} else {
		_ = os.RemoveAll(dir)
	}
	return code
}

// missingBinaries lists the binaries the suite needs that are not there.
func missingBinaries() []string {
	var missing []string
	for _, p := range []string{managerBin, fakeBin, kubectlBin,
		filepath.Join(testenv.AssetsDir(), "kube-apiserver"), filepath.Join(testenv.AssetsDir(), "etcd")} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			rel, rerr := filepath.Rel(repoRoot, p)
			if rerr != nil || strings.HasPrefix(rel, "..") {
				rel = p
			}
			missing = append(missing, rel)
		}
	}
	return missing
}

// inCI reports whether CI is set to a true value (CI=true on GitHub Actions, GitLab, …).
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// setupSuite returns the running suite, or skips (fails in CI) when the binaries are missing.
// On failure it prints the tails of the manager's and fake-connect's logs.
func setupSuite(t *testing.T) *suite {
	t.Helper()
	if skipReason != "" {
		if inCI() {
			t.Fatalf("CI=true, so not skipping: %s", skipReason)
		}
		t.Skip(skipReason)
	}
	if setupErr != nil {
		t.Fatalf("end-to-end setup failed: %v", setupErr)
	}
	// A test that failed half-way may have left the shared manager stopped.
	if p := s.mgr.current(); p == nil || p.exited() {
		t.Log("the manager is not running (left stopped by an earlier failure?): starting it")
		if err := s.mgr.start(); err != nil {
			t.Fatal(err)
		}
		if err := s.mgr.waitWorkers(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			s.printLogTails(&b)
			t.Log(b.String())
		}
	})
	return s
}

// guard tears the suite down on SIGINT/SIGTERM and shortly before the -test.timeout deadline
// (the timeout panic skips TestMain's deferred calls), so no process outlives the test binary.
// Subprocesses also get SIGKILL from the kernel when the test binary dies (see sysProcAttr).
func (st *suite) guard() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "e2e: %s: stopping the manager, fake-connect and the control plane\n", sig)
			st.teardown()
			os.Exit(130)
		case <-done:
		}
	}()
	var timer *time.Timer
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > 0 {
			margin := min(d/10, 15*time.Second)
			timer = time.AfterFunc(d-margin, func() {
				fmt.Fprintf(os.Stderr, "e2e: -test.timeout %s nearly reached: stopping the manager, fake-connect and the control plane\n", d)
				st.printLogTails(os.Stderr)
				st.teardown()
			})
		}
	}
	return func() {
		signal.Stop(sigs)
		close(done)
		if timer != nil {
			timer.Stop()
		}
	}
}

func (st *suite) setup() error {
	// 1. The control plane, without CRDs: the installer must bring its own.
	st.env = &envtest.Environment{BinaryAssetsDirectory: testenv.AssetsDir()}
	if _, err := st.env.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	admin, err := st.env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	st.adminKubeconfig = filepath.Join(st.dir, "admin.kubeconfig")
	if err := os.WriteFile(st.adminKubeconfig, kc, 0o600); err != nil {
		return err
	}
	k := st.admin()

	// 2. The installer, as a user applies it.
	installer := installYAML
	st.installer = "dist/install.yaml"
	if _, err := os.Stat(installer); err != nil {
		out, err := k.exec(context.Background(), "", "kustomize", filepath.Join(repoRoot, "config", "default"))
		if err != nil {
			return fmt.Errorf("rendering config/default: %w", err)
		}
		installer = filepath.Join(st.dir, "install.yaml")
		if err := os.WriteFile(installer, []byte(out), 0o600); err != nil {
			return err
		}
		st.installer = "dist/install.yaml missing: rendered with 'kubectl kustomize config/default'"
	}
	if _, err := k.exec(context.Background(), "", "apply", "--server-side", "-f", installer); err != nil {
		return fmt.Errorf("applying the installer (%s): %w", st.installer, err)
	}
	if _, err := k.exec(context.Background(), "", "wait", "--for=condition=Established", "crd/"+crdName, "--timeout=60s"); err != nil {
		return err
	}

	// 3. The manager's identity: a TokenRequest token of the installed ServiceAccount, nothing else.
	token, err := k.exec(context.Background(), "", "create", "token", operatorSA, "-n", operatorNamespace, "--duration=1h")
	if err != nil {
		return fmt.Errorf("minting a token for the manager's ServiceAccount: %w", err)
	}
	if st.saKubeconfig, err = st.tokenKubeconfig(strings.TrimSpace(token)); err != nil {
		return err
	}

	// 4. The fake WorkOS Connect server; it picks a free port and says which.
	if err := st.startFake(); err != nil {
		return err
	}

	// 5. The manager.
	st.mgr = &manager{dir: st.dir, kubeconfig: st.saKubeconfig}
	if err := st.mgr.start(); err != nil {
		return err
	}
	if err := st.mgr.waitReady(60 * time.Second); err != nil {
		return err
	}
	return st.mgr.waitWorkers(60 * time.Second)
}

// tokenKubeconfig writes a kubeconfig with the admin kubeconfig's server and CA and the token only.
func (st *suite) tokenKubeconfig(token string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(st.adminKubeconfig)
	if err != nil {
		return "", err
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return "", fmt.Errorf("admin kubeconfig has no current context")
	}
	cluster, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return "", fmt.Errorf("admin kubeconfig has no cluster %q", ctx.Cluster)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cluster.Server, CertificateAuthorityData: cluster.CertificateAuthorityData}
	out.AuthInfos["manager"] = &clientcmdapi.AuthInfo{Token: token}
	out.Contexts["manager"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "manager", Namespace: operatorNamespace}
	out.CurrentContext = "manager"
	path := filepath.Join(st.dir, "manager.kubeconfig")
	return path, clientcmd.WriteToFile(*out, path)
}

var fakeURLPattern = regexp.MustCompile(`fake-connect: issuer (\S+) token URL`)

func (st *suite) startFake() error {
	p, err := startProc(filepath.Join(st.dir, "fake-connect.log"), fakeBin,
		"--listen", "127.0.0.1:0", "--lifetime", tokenLifetime.String(),
		"--client", e2eClientID+":"+e2eClientSecret+":widgets:read,widgets:write")
	if err != nil {
		return fmt.Errorf("starting fake-connect: %w", err)
	}
	st.fake = p
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := fakeURLPattern.FindStringSubmatch(p.logText()); m != nil {
			st.fakeURL = m[1]
			return nil
		}
		if p.exited() {
			return fmt.Errorf("fake-connect exited: %v", p.err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("fake-connect did not print its URL within 20s")
}

func (st *suite) teardown() {
	st.teardownOnce.Do(func() {
		if st.mgr != nil {
			st.mgr.close()
		}
		if st.fake != nil {
			_ = st.fake.stop(syscall.SIGTERM, 5*time.Second)
		}
		if st.env != nil {
			if err := st.env.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: stopping the control plane: %v\n", err)
			}
		}
	})
}

func (st *suite) printLogTails(w io.Writer) {
	if st.mgr != nil {
		if p := st.mgr.current(); p != nil {
			fmt.Fprintf(w, "--- tail of %s (start #%d) ---\n%s\n", filepath.Base(p.log), st.mgr.starts(), tail(p.logText(), 40))
		}
	}
	if st.fake != nil {
		fmt.Fprintf(w, "--- tail of fake-connect.log ---\n%s\n", tail(st.fake.logText(), 15))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- kubectl ----

// kubectl runs the real kubectl binary with a kubeconfig.
type kubectl struct {
	kubeconfig string
	cacheDir   string
	dir        string // working directory; the test binary's when empty
}

func (st *suite) admin() kubectl {
	return kubectl{kubeconfig: st.adminKubeconfig, cacheDir: filepath.Join(st.dir, "kube-cache")}
}

// exec runs kubectl with stdin and returns stdout; an error carries stderr.
func (k kubectl) exec(ctx context.Context, stdin string, args ...string) (string, error) {
	stdout, stderr, err := k.execFull(ctx, stdin, args...)
	if err != nil {
		return stdout, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr))
	}
	return stdout, nil
}

func (k kubectl) execFull(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, args...)
	cmd.Env = append(environWithout("KUBECONFIG", "KUBECACHEDIR"), "KUBECONFIG="+k.kubeconfig, "KUBECACHEDIR="+k.cacheDir)
	cmd.Dir = k.dir
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// run runs kubectl and fails the test unless it succeeds; it returns stdout.
func (k kubectl) run(t *testing.T, args ...string) string {
	t.Helper()
	return k.runIn(t, "", args...)
}

// runIn is run with stdin.
func (k kubectl) runIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	t.Logf("$ kubectl %s", strings.Join(args, " "))
	out, err := k.exec(t.Context(), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fails runs kubectl expecting it to fail and returns its stderr.
func (k kubectl) fails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr, err := k.execFull(t.Context(), stdin, args...)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("kubectl %s: want a failure, got err=%v stdout=%q", strings.Join(args, " "), err, stdout)
	}
	return stderr
}

// inNamespace returns a kubectl whose kubeconfig's current context is namespace ns, set with
// 'kubectl config set-context --current --namespace', as users do.
func (st *suite) inNamespace(t *testing.T, ns string) kubectl {
	t.Helper()
	data, err := os.ReadFile(st.adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	k := st.admin()
	k.kubeconfig = filepath.Join(t.TempDir(), ns+".kubeconfig")
	if err := os.WriteFile(k.kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	k.run(t, "config", "set-context", "--current", "--namespace="+ns)
	return k
}

func environWithout(keys ...string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return env
}

// ---- the fake Connect server's admin API ----

func (st *suite) stats(t *testing.T) connecttest.Stats {
	t.Helper()
	resp, err := http.Get(st.fakeURL + "/fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var stats connecttest.Stats
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	return stats
}

func (st *suite) clientStats(t *testing.T, id string) connecttest.ClientStats {
	t.Helper()
	return st.stats(t).Clients[id]
}

// setClient adds a client to the fake server or rotates its secret.
func (st *suite) setClient(t *testing.T, u connecttest.ClientUpdate) {
	t.Helper()
	body, _ := json.Marshal(u)
	resp, err := http.Post(st.fakeURL+"/fake/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /fake/clients: %s", resp.Status)
	}
}

// slowDown scripts n delayed (but otherwise normal) answers at the fake server.
func (st *suite) slowDown(t *testing.T, n int, delay time.Duration) {
	t.Helper()
	faults := make([]map[string]string, n)
	for i := range faults {
		faults[i] = map[string]string{"delay": delay.String()}
	}
	body, _ := json.Marshal(faults)
	resp, err := http.Post(st.fakeURL+"/fake/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /fake/faults: %s", resp.Status)
	}
}

// ---- subprocesses ----

// proc is a subprocess in its own process group, its output in a log file.
type proc struct {
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done
}

func startProc(logPath, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = environWithout("KUBECONFIG")
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &proc{log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group and waits up to timeout, then SIGKILLs it. It returns the
// process's exit error (nil for a clean exit).
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("did not exit within %s of %s; killed", timeout, sig)
	}
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// manager runs bin/manager, restartable; each start logs to its own file.
type manager struct {
	dir, kubeconfig string

	mu     sync.Mutex
	n      int
	cur    *proc
	probe  string
	closed bool
	extra  []string // flags added to the next starts
}

func (m *manager) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("suite is shutting down")
	}
	if m.cur != nil && !m.cur.exited() {
		return errors.New("manager already running")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	m.n++
	m.probe = "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"--kubeconfig", m.kubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=" + m.probe, "--leader-elect=false"}, m.extra...)
	p, err := startProc(filepath.Join(m.dir, fmt.Sprintf("manager-%02d.log", m.n)), managerBin, args...)
	if err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	m.cur = p
	return nil
}

func (m *manager) current() *proc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

func (m *manager) starts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// stop signals the running manager and waits for it to exit.
func (m *manager) stop(sig syscall.Signal) error {
	p := m.current()
	if p == nil {
		return nil
	}
	return p.stop(sig, 15*time.Second)
}

func (m *manager) close() {
	m.mu.Lock()
	m.closed = true
	p := m.cur
	m.mu.Unlock()
	if p != nil {
		_ = p.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// waitReady waits until the running manager answers /readyz.
func (m *manager) waitReady(timeout time.Duration) error {
	m.mu.Lock()
	p, url := m.cur, "http://"+m.probe+"/readyz"
	m.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("manager exited: %v\n%s", p.err, tail(p.logText(), 20))
		}
		if resp, err := client.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("manager not ready within %s\n%s", timeout, tail(p.logText(), 20))
}

// workersStarted reports whether the running manager's controller has started its workers.
func (m *manager) workersStarted() bool {
	p := m.current()
	return p != nil && strings.Contains(p.logText(), "Starting workers")
}

// waitWorkers waits until the running manager logs "Starting workers" (caches synced).
func (m *manager) waitWorkers(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m.workersStarted() {
			return nil
		}
		if p := m.current(); p.exited() {
			return fmt.Errorf("manager exited: %v\n%s", p.err, tail(p.logText(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("manager did not log \"Starting workers\" within %s\n%s", timeout, tail(m.current().logText(), 20))
}

// allLogs concatenates the logs of every manager start.
func (m *manager) allLogs() string {
	m.mu.Lock()
	n := m.n
	m.mu.Unlock()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		data, _ := os.ReadFile(filepath.Join(m.dir, fmt.Sprintf("manager-%02d.log", i)))
		b.Write(data)
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
