// Command fake-connect serves the fake WorkOS Connect authorization server of
// internal/connect/connecttest on a loopback address, for the demo,
// benchmarks and end-to-end tests. It accepts the client credentials grant at
// /oauth2/token, issues RS256 JWTs, and exposes counters and controls under
// /fake/ (see below). It is a test double: never expose it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
)

// clientFlag is one --client id:secret[:scope1,scope2].
type clientFlag struct {
	id, secret string
	scopes     []string
}

func parseClient(s string) (clientFlag, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return clientFlag{}, fmt.Errorf("want id:secret[:scope1,scope2], got %q", s)
	}
	c := clientFlag{id: parts[0], secret: parts[1]}
	if len(parts) == 3 && parts[2] != "" {
		c.scopes = strings.Split(parts[2], ",")
	}
	return c, nil
}

const defaultClient = "client_demo:secret_demo:widgets:read,widgets:write"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.Is(err, errUsage): // the flag package has said why
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "fake-connect:", err)
		os.Exit(1)
	}
}

// errUsage reports flags the flag package already refused.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fake-connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8089", "loopback `address` to serve on (port 0 picks a free one)")
	lifetime := fs.Duration("lifetime", 30*time.Second, "lifetime of issued tokens (expires_in)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a freshly generated self-signed certificate")
	caFile := fs.String("ca-file", "", "with --tls, write the certificate to trust (PEM) to this `file`")
	issuer := fs.String("issuer", "", "\"iss\" claim of issued tokens (default: the server's URL)")
	audience := fs.String("audience", "", "\"aud\" claim of issued tokens (default: the issuer)")
	org := fs.String("org", "org_demo", "organization (\"org_id\" claim) of the clients given by --client")
	allowRemote := fs.Bool("allow-non-loopback", false, "allow listening on a non-loopback address (anyone who reaches it can mint tokens)")
	var clients []clientFlag
	fs.Func("client", "register a client as `id:secret[:scope1,scope2]`; repeatable (default "+defaultClient+")", func(s string) error {
		c, err := parseClient(s)
		if err == nil {
			clients = append(clients, c)
		}
		return err
	})
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), `Usage: fake-connect [flags]

Serves a fake WorkOS Connect authorization server for demos and tests:

  POST   /oauth2/token                       client credentials grant (client_secret_post or _basic)
  GET    /.well-known/openid-configuration   discovery document
  GET    /oauth2/jwks                        signing key
  GET    /fake/stats                         counters as JSON (requests, issued, rejected, failed, per client)
  POST   /fake/clients                       {"id","secret","organizationId","scopes"}: add a client or rotate its secret
  DELETE /fake/clients/{id}                  remove a client
  POST   /fake/faults                        JSON list of faults for the next requests, e.g. [{"status":503,"retryAfter":"5"}]
  POST   /fake/lifetime                      {"lifetime":"30s"}
  POST   /fake/reset                         zero the counters and drop pending faults
  GET    /fake/ca.pem                        the certificate to trust (with --tls)

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !*allowRemote && !loopback(*listen) {
		return fmt.Errorf("--listen %s is not a loopback address; the fake server accepts anyone (use --allow-non-loopback to insist)", *listen)
	}
	if *caFile != "" && !*useTLS {
		return fmt.Errorf("--ca-file needs --tls")
	}
	if len(clients) == 0 {
		c, _ := parseClient(defaultClient)
		clients = []clientFlag{c}
	}

	srv := connecttest.NewServer(connecttest.Config{
		Lifetime: *lifetime,
		Issuer:   *issuer,
		Audience: *audience,
		ErrorLog: log.New(stderr, "fake-connect: ", log.LstdFlags),
	})
	for _, c := range clients {
		srv.AddClient(c.id, c.secret, *org, c.scopes...)
	}
	if err := srv.StartOn(*listen, *useTLS); err != nil {
		return err
	}
	defer srv.Close()
	if *caFile != "" {
		if err := os.WriteFile(*caFile, srv.CACertPEM(), 0o644); err != nil {
			return err
		}
	}
	_, _ = fmt.Fprintf(stdout, "fake-connect: issuer %s token URL %s\n", srv.Issuer(), srv.TokenURL())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	_, _ = fmt.Fprintln(stderr, "fake-connect: shutting down")
	return nil
}

// loopback reports whether addr's host is a loopback name or address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
