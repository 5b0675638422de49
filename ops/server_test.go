package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func do(t *testing.T, h http.Handler, method, path, token, body string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b), w.Result().Header
}

// TestServerAuthAndHealth: the operator API needs the token, health and
// metrics do not; readiness names every check and its error; reports are
// served only by their own names.
func TestServerAuthAndHealth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report-2026-11-20.html"), []byte("<html>r</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("no"), 0o600); err != nil {
		t.Fatal(err)
	}
	redisDown := errors.New("pinging Redis: connection refused")
	h := NewServer(ServerOptions{
		Metrics: NewMetrics(Sources{}),
		Health: &Health{Checks: []Check{
			{Name: "database", Fn: func(context.Context) (string, error) { return "PostgreSQL", nil }},
			{Name: "redis", Fn: func(context.Context) (string, error) { return "Redis", redisDown }},
		}},
		Token: "tok", Operator: &Operator{}, Reports: &ReportService{Dir: dir},
	})
	if st, _, _ := do(t, h, "GET", "/healthz", "", ""); st != http.StatusOK {
		t.Errorf("/healthz = %d", st)
	}
	st, body, _ := do(t, h, "GET", "/readyz", "", "")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || st != http.StatusServiceUnavailable || rd.Ready ||
		!rd.Checks["database"].OK || rd.Checks["redis"].OK || rd.Checks["redis"].Error != redisDown.Error() {
		t.Errorf("/readyz = %d %s", st, body)
	}
	if st, body, _ := do(t, h, "GET", "/metrics", "", ""); st != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d", st)
	}
	for _, tok := range []string{"", "wrong", "tok2"} {
		if st, _, hd := do(t, h, "GET", "/admin/status", tok, ""); st != http.StatusUnauthorized || hd.Get("WWW-Authenticate") == "" {
			t.Errorf("/admin/status with token %q = %d", tok, st)
		}
	}
	if st, _, _ := do(t, h, "GET", "/admin/status", "tok", ""); st != http.StatusOK {
		t.Errorf("/admin/status with the token = %d", st)
	}
	if st, _, _ := do(t, h, "GET", "/admin/orders?number=138****0001", "tok", ""); st != http.StatusServiceUnavailable {
		t.Errorf("search with no store = %d, want 503", st)
	}
	if st, _, _ := do(t, h, "GET", "/admin/orders?order=abc", "tok", ""); st != http.StatusBadRequest {
		t.Errorf("order=abc = %d, want 400", st)
	}
	if st, body, _ := do(t, h, "GET", "/admin/reports", "tok", ""); st != http.StatusOK || !strings.Contains(body, "report-2026-11-20.html") || strings.Contains(body, "secret") {
		t.Errorf("/admin/reports = %d %s", st, body)
	}
	if st, body, hd := do(t, h, "GET", "/admin/reports/report-2026-11-20.html", "tok", ""); st != http.StatusOK || body != "<html>r</html>" ||
		!strings.Contains(hd.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("a report = %d %q %v", st, body, hd)
	}
	for _, p := range []string{"/admin/reports/secret.txt", "/admin/reports/..%2Fsecret.txt", "/admin/reports/report-2026-11-21.html"} {
		if st, _, _ := do(t, h, "GET", p, "tok", ""); st != http.StatusNotFound {
			t.Errorf("%s = %d, want 404", p, st)
		}
	}
	if st, body, hd := do(t, h, "GET", "/console/", "", ""); st != http.StatusOK || !strings.Contains(body, "operator console") ||
		!strings.Contains(hd.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("/console/ = %d", st)
	}
	if st, _, _ := do(t, h, "PUT", "/admin/loglevel", "tok", `{"level":"loud"}`); st != http.StatusServiceUnavailable {
		t.Errorf("log level without a LevelVar = %d", st)
	}
	off := NewServer(ServerOptions{Operator: &Operator{}})
	if st, _, _ := do(t, off, "GET", "/admin/status", "anything", ""); st != http.StatusServiceUnavailable {
		t.Errorf("no token configured: %d, want 503", st)
	}
}
