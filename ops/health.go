package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness check: nil when what it checks answers.
type Check struct {
	Name string // "database", "redis", "smpp"
	Fn   func(ctx context.Context) (detail string, err error)
}

// CheckResult is one check's answer in /readyz.
type CheckResult struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Readiness is /readyz's body.
type Readiness struct {
	Ready  bool                   `json:"ready"`
	Checks map[string]CheckResult `json:"checks"`
}

// Health answers /healthz (the process is alive) and /readyz (every check
// passes: the database, Redis and at least one SMPP bind up).
type Health struct {
	Checks  []Check
	Timeout time.Duration // per check; default 2s
}

// Ready runs every check at once, each bounded by Timeout.
func (h *Health) Ready(ctx context.Context) Readiness {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	out := Readiness{Ready: true, Checks: map[string]CheckResult{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range h.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			detail, err := c.Fn(cctx)
			r := CheckResult{OK: err == nil, Detail: detail}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			out.Checks[c.Name] = r
			out.Ready = out.Ready && r.OK
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// ServeHealthz answers 200 while the process serves HTTP.
func (h *Health) ServeHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// ServeReadyz answers 200 when every check passes, 503 otherwise; the body
// names each check and its error.
func (h *Health) ServeReadyz(w http.ResponseWriter, r *http.Request) {
	rd := h.Ready(r.Context())
	st := http.StatusOK
	if !rd.Ready {
		st = http.StatusServiceUnavailable
	}
	writeJSON(w, st, rd)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
