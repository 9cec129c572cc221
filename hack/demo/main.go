// Command demo runs the operator's whole job on a local control plane and narrates it:
// etcd + kube-apiserver (built from modules), the CRD, bin/fake-connect (or a real WorkOS
// environment), bin/manager, and config/samples — then rotations, a credentials rotation, a
// forced refresh and a bad client secret, as they happen. `make demo` runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/testenv"
)

const (
	ctName     = "workos-m2m"
	credsName  = "workos-m2m-credentials"
	secretName = "workos-m2m-token"
	namespace  = "default"
)

func main() {
	os.Exit(run())
}

// demo holds what the demo started, so everything is stopped on the way out.
type demo struct {
	root, dir, kubeconfig, kubectl string
	env                            *testenv.Env
	procs                          []*exec.Cmd
	k8s                            client.Client
	fakeURL                        string // "" against a real WorkOS environment
	clientSecret                   string
}

func run() int {
	duration := 2 * time.Minute
	if v := os.Getenv("DEMO_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			say("DEMO_DURATION=%q is not a duration (for example 75s or 2m)", v)
			return 2
		}
		duration = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{root: testenv.Root()}
	defer d.cleanup()
	if err := d.setUp(ctx); err != nil {
		say("The demo could not start: %v", err)
		return 1
	}
	rotations, err := d.narrate(ctx, duration)
	switch {
	case ctx.Err() != nil:
		say("Interrupted: stopping everything the demo started.")
		return 130
	case err != nil:
		say("The demo failed: %v", err)
		return 1
	case d.fakeURL != "" && rotations == 0:
		say("No scheduled rotation was seen in %s: that is a failure (try a longer DEMO_DURATION).", duration)
		return 1
	}
	say("Done: %d scheduled rotation(s) seen. Stopping the manager, the fake server and the control plane.", rotations)
	return 0
}

func say(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (d *demo) setUp(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "connect-token-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	d.kubectl = filepath.Join(testenv.AssetsDir(), "kubectl")
	say("Starting a local control plane: etcd and kube-apiserver v%s, built from Go modules, in %s", testenv.K8sVersion, dir)
	if d.env, err = testenv.Start(); err != nil {
		return err
	}
	admin, err := d.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	d.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(d.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	if d.k8s, err = client.New(d.env.Config, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return err
	}
	say("The ConnectToken CRD is installed. Poke the running system from another shell:")
	fmt.Printf("\n    export KUBECONFIG=%s\n    %s get connecttokens -o wide\n\n", d.kubeconfig, d.kubectl)

	issuer, clientID, secret, scopes := os.Getenv("ISSUER_URL"), "client_demo", "secret_demo", "widgets:read"
	if issuer != "" {
		clientID, secret, scopes = os.Getenv("CLIENT_ID"), os.Getenv("CLIENT_SECRET"), os.Getenv("SCOPES")
		if clientID == "" || secret == "" {
			return errors.New("with ISSUER_URL, set CLIENT_ID and CLIENT_SECRET too")
		}
		say("Using the real token endpoint %s/oauth2/token", strings.TrimSuffix(issuer, "/"))
	} else {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		if err := d.start("fake-connect", filepath.Join(d.root, "bin", "fake-connect"), "--listen", addr, "--lifetime", "30s",
			"--client", "client_demo:secret_demo:widgets:read,widgets:write"); err != nil {
			return err
		}
		d.fakeURL, issuer = "http://"+addr, "http://"+addr
		if err := waitHTTP(ctx, d.fakeURL+"/.well-known/openid-configuration"); err != nil {
			return fmt.Errorf("fake Connect server: %w", err)
		}
		say("Started bin/fake-connect on %s: a fake WorkOS Connect server issuing RS256 JWTs valid for 30 s", d.fakeURL)
	}
	d.clientSecret = secret
	if err := d.start("manager", filepath.Join(d.root, "bin", "manager"), "--kubeconfig", d.kubeconfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0"); err != nil {
		return err
	}
	say("Started bin/manager (logs: %s)", filepath.Join(dir, "manager.log"))

	say("Applying config/samples: the credentials Secret and the ConnectToken")
	creds := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\nstringData:\n  client_id: %q\n  client_secret: %q\n",
		credsName, namespace, clientID, secret)
	sample, err := os.ReadFile(filepath.Join(d.root, "config", "samples", "connect_v1alpha1_connecttoken.yaml"))
	if err != nil {
		return err
	}
	ct := strings.Replace(string(sample), "issuerURL: http://127.0.0.1:8089", "issuerURL: "+issuer, 1)
	if scopes != "" {
		ct = strings.Replace(ct, "  scopes:\n  - widgets:read\n", "  scopes: ["+strings.Join(strings.Fields(scopes), ", ")+"]\n", 1)
	}
	out, err := d.kubectlRun(creds+"---\n"+ct, "apply", "-n", namespace, "-f", "-")
	fmt.Print(indent(out))
	return err
}

// start runs a binary in its own process group, logging to <dir>/<name>.log.
func (d *demo) start(name, path string, args ...string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s not found: run 'make build' first", path)
	}
	logFile, err := os.Create(filepath.Join(d.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	d.procs = append(d.procs, cmd)
	return nil
}

func (d *demo) cleanup() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if d.env != nil {
		_ = d.env.Stop()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}

func (d *demo) kubectlRun(stdin string, args ...string) (string, error) {
	cmd := exec.Command(d.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func waitHTTP(ctx context.Context, url string) error {
	for range 100 {
		if resp, err := http.Get(url); err == nil { //nolint:gosec,noctx // loopback URL built by the demo
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer", url)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// shorten shows the start of a token only: never a whole token on screen.
func shorten(token string) string {
	if len(token) > 10 {
		return token[:10] + "…"
	}
	return "…"
}

// readyOf returns the Ready condition as "Status/Reason: message".
func readyOf(ct *connectv1alpha1.ConnectToken) string {
	c := meta.FindStatusCondition(ct.Status.Conditions, connectv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return fmt.Sprintf("Ready=%s (%s): %s", c.Status, c.Reason, c.Message)
}

func (d *demo) get(ctx context.Context) (*connectv1alpha1.ConnectToken, *corev1.Secret) {
	ct := &connectv1alpha1.ConnectToken{}
	if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ctName}, ct); err != nil {
		return nil, nil
	}
	s := &corev1.Secret{}
	if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secretName}, s); err != nil {
		return ct, nil
	}
	return ct, s
}
