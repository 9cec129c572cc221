package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// step is one scripted action, run this long after the ConnectToken first turned Ready.
type step struct {
	after time.Duration
	title string
	cause string // what the next rotation is caused by; "" when no rotation is expected
	do    func(ctx context.Context) error
}

const scheduled = "scheduled refresh"

// narrate watches the ConnectToken and its Secret, says what changes, runs the script, and
// counts scheduled rotations until the duration is over.
func (d *demo) narrate(ctx context.Context, duration time.Duration) (int, error) {
	deadline := time.Now().Add(duration)
	steps := d.steps()
	var lastReady, lastExpiry, cause string
	var firstReady time.Time
	rotations := 0
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return rotations, nil
		case <-time.After(250 * time.Millisecond):
		}
		ct, s := d.get(ctx)
		if ct == nil {
			continue
		}
		if r := readyOf(ct); r != "" && r != lastReady {
			say("%s", r)
			lastReady = r
		}
		if s != nil && string(s.Data["expires_at"]) != lastExpiry {
			exp := string(s.Data["expires_at"])
			switch {
			case lastExpiry == "":
				say("Secret %s written: %s", secretName, describeSecret(s))
			case cause == "":
				say("Token rotated (%s): expires %s → %s; new token %s", scheduled, lastExpiry, exp, shorten(string(s.Data["access_token"])))
				rotations++
			default:
				say("Token re-issued (%s): expires %s → %s; new token %s", cause, lastExpiry, exp, shorten(string(s.Data["access_token"])))
			}
			lastExpiry, cause = exp, ""
		}
		if firstReady.IsZero() && strings.HasPrefix(lastReady, "Ready=True") {
			firstReady = time.Now()
			d.show("get", "connecttokens", "-o", "wide")
		}
		if !firstReady.IsZero() && len(steps) > 0 && time.Since(firstReady) >= steps[0].after {
			st := steps[0]
			steps = steps[1:]
			say("▶ %s", st.title)
			cause = st.cause
			if err := st.do(ctx); err != nil {
				return rotations, fmt.Errorf("%s: %w", st.title, err)
			}
		}
	}
	if firstReady.IsZero() {
		return rotations, fmt.Errorf("the ConnectToken never turned Ready in %s; last state: %q", duration, lastReady)
	}
	d.show("get", "connecttokens", "-o", "wide")
	return rotations, nil
}

// steps is the script: rotate credentials, force a refresh, break and mend the client secret.
func (d *demo) steps() []step {
	var out []step
	rotated := d.clientSecret
	if d.fakeURL != "" {
		rotated = d.clientSecret + "_rotated"
		out = append(out, step{6 * time.Second,
			"Rotating the client secret (at the server, then in the credentials Secret): the operator re-issues at once",
			"credentials rotated", func(ctx context.Context) error {
				if err := d.fakeAdmin(fmt.Sprintf(`{"id":"client_demo","secret":%q}`, rotated)); err != nil {
					return err
				}
				return d.setClientSecret(ctx, rotated)
			}})
	}
	return append(out,
		step{13 * time.Second, "Forcing a refresh: kubectl annotate connecttoken workos-m2m connect.tokenop.dev/force-refresh=<now>",
			"forced refresh", func(context.Context) error {
				_, err := d.kubectlRun("", "annotate", "-n", namespace, "connecttoken", ctName, "--overwrite",
					connectv1alpha1.ForceRefreshAnnotation+"="+time.Now().Format("150405"))
				return err
			}},
		step{20 * time.Second, "Putting a wrong client secret into the credentials Secret: the server rejects it, Ready turns False",
			"", func(ctx context.Context) error { return d.setClientSecret(ctx, "wrong-secret") }},
		step{28 * time.Second, "Restoring the right client secret: the last token is valid for it again, Ready turns True",
			"", func(ctx context.Context) error { return d.setClientSecret(ctx, rotated) }},
		step{31 * time.Second, "The events so far (kubectl describe connecttoken workos-m2m):", "", func(context.Context) error {
			out, err := d.kubectlRun("", "describe", "-n", namespace, "connecttoken", ctName)
			if i := strings.Index(out, "Events:"); i >= 0 {
				fmt.Print(indent(out[i:]))
			}
			if d.fakeURL != "" {
				say("From now on, only scheduled rotations: every ~20 s for these 30 s tokens.")
			}
			return err
		}},
	)
}

func (d *demo) setClientSecret(ctx context.Context, secret string) error {
	s := &corev1.Secret{}
	if err := d.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: credsName}, s); err != nil {
		return err
	}
	s.Data["client_secret"] = []byte(secret)
	return d.k8s.Update(ctx, s)
}

func (d *demo) fakeAdmin(body string) error {
	resp, err := http.Post(d.fakeURL+"/fake/clients", "application/json", strings.NewReader(body)) //nolint:gosec,noctx // loopback
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fake server answered HTTP %d", resp.StatusCode)
	}
	return nil
}

func (d *demo) show(args ...string) {
	out, _ := d.kubectlRun("", append([]string{"-n", namespace}, args...)...)
	fmt.Printf("    $ kubectl %s\n%s", strings.Join(args, " "), indent(out))
}

// describeSecret lists the Secret's keys, tokens shortened.
func describeSecret(s *corev1.Secret) string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := string(s.Data[k])
		switch k {
		case "access_token":
			v = shorten(v)
		case "token_type", "expires_at":
		default:
			if strings.Contains(v, string(s.Data["access_token"])) {
				v = strings.ReplaceAll(v, string(s.Data["access_token"]), shorten(string(s.Data["access_token"])))
			}
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ", ")
}
