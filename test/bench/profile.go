package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/rest"
)

// pprofAddr is where the measured operator serves net/http/pprof when
// profiles are asked for.
const pprofAddr = "127.0.0.1:48090"

// profileTarget is a process serving net/http/pprof.
type profileTarget struct {
	name   string
	url    string // base URL; /debug/pprof/profile is appended
	client *http.Client
}

// profiler captures CPU profiles of the API server, kube-controller-manager
// and the operator over the first seconds of a phase, so the floor's and
// the operator's creation can be compared function by function
// (go tool pprof -top -diff_base floor.pprof operator.pprof).
type profiler struct {
	dir     string
	seconds int
	targets []profileTarget
}

// newProfiler profiles the API server of cfg and, when controllerManager
// (https://host:port) is set, kube-controller-manager, which authenticates
// the same bearer token through the API server. It returns nil when
// seconds is 0.
func newProfiler(cfg *rest.Config, controllerManager, dir string, seconds int) (*profiler, error) {
	if seconds <= 0 {
		return nil, nil
	}
	api, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	p := &profiler{dir: dir, seconds: seconds, targets: []profileTarget{{name: "kube-apiserver", url: cfg.Host, client: api}}}
	if controllerManager != "" {
		// The controller manager serves a self-signed certificate on
		// 127.0.0.1; the token is the administrator's.
		kcm := &http.Client{Transport: bearer{token: cfg.BearerToken, next: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local, self-signed
		}}}
		p.targets = append(p.targets, profileTarget{name: "kube-controller-manager", url: controllerManager, client: kcm})
	}
	return p, nil
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// operatorArgs are the flags that make the operator serve pprof.
func (p *profiler) operatorArgs() []string {
	if p == nil {
		return nil
	}
	return []string{"--pprof-bind-address=" + pprofAddr}
}

// start captures a profile of every target, and of the operator if
// withOperator, into <dir>/<phase>-<target>.pprof; the returned function
// waits until they are written. A nil profiler does nothing.
func (p *profiler) start(ctx context.Context, phase string, withOperator bool) (wait func()) {
	if p == nil {
		return func() {}
	}
	targets := p.targets
	if withOperator {
		targets = append(targets, profileTarget{name: "operator", url: "http://" + pprofAddr, client: http.DefaultClient})
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			path := filepath.Join(p.dir, fmt.Sprintf("%s-%s.pprof", phase, t.name))
			if err := p.capture(ctx, t, path); err != nil {
				logf("profile of %s during %s: %v", t.name, phase, err)
			}
		})
	}
	return wg.Wait
}

func (p *profiler) capture(ctx context.Context, t profileTarget, path string) error {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", t.url, p.seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
