package settlement_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/merchantkey"
	"github.com/carrierbill/carrierbill/settlement"
)

type downloadEnv struct {
	dir        string
	srv        *httptest.Server
	key8001    string
	key8002    string
	revoked    string
	statement  string
	statementB []byte
}

func newDownloadEnv(t *testing.T) *downloadEnv {
	t.Helper()
	f := newFixture(t)
	f.pay("8001", "phone", 1500, at(2026, 11, 20, 9, 0, 0), payOpt{})
	f.pay("8002", "phone", 300, at(2026, 11, 20, 9, 0, 0), payOpt{})
	dir := t.TempDir()
	clk := clock.NewFake(at(2026, 11, 21, 3, 0, 0))
	r := newRunner(t, f, dir, clk, nil)
	ctx := context.Background()
	for _, job := range []string{settlement.JobStatements, settlement.JobDailyBills} {
		if _, err := r.Generate(ctx, job, "2026-11-20", ""); err != nil {
			t.Fatal(err)
		}
	}
	// A file outside any merchant directory, the target of traversal.
	os.WriteFile(filepath.Join(dir, "secret.csv"), []byte("secret"), 0o600)
	store := merchantkey.NewPostgres(f.pool)
	issue := func(m string) (string, int64) {
		key, hash, hint, err := merchantkey.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		id, err := store.IssueKey(ctx, m, hash, hint, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return key, id
	}
	e := &downloadEnv{dir: dir}
	e.key8001, _ = issue("8001")
	e.key8002, _ = issue("8002")
	var id int64
	e.revoked, id = issue("8001")
	if ok, err := store.RevokeKey(ctx, id, clk.Now()); !ok || err != nil {
		t.Fatalf("revoking: %v %v", ok, err)
	}
	e.statement = settlement.StatementName("8001", "2026-11-20")
	e.statementB, _ = os.ReadFile(filepath.Join(dir, "8001", e.statement))
	e.srv = httptest.NewServer(settlement.NewDownloadServer(dir, store, clk, testLogger(t)))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *downloadEnv) get(t *testing.T, key, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// rawGet sends path exactly as written (no client-side cleaning).
func (e *downloadEnv) rawGet(t *testing.T, key, path string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", path, key)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDownloadServer(t *testing.T) {
	t.Parallel()
	e := newDownloadEnv(t)
	sum := sha256.Sum256(e.statementB)
	hexSum := hex.EncodeToString(sum[:])

	t.Run("own file with checksum and ETag", func(t *testing.T) {
		resp, body := e.get(t, e.key8001, "/files/"+e.statement, nil)
		if resp.StatusCode != 200 || string(body) != string(e.statementB) {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Checksum-SHA256") != hexSum || resp.Header.Get("ETag") != `"`+hexSum+`"` {
			t.Fatalf("headers %v, want checksum %s", resp.Header, hexSum)
		}
		resp, _ = e.get(t, e.key8001, "/files/"+e.statement, map[string]string{"If-None-Match": `"` + hexSum + `"`})
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match: status %d", resp.StatusCode)
		}
	})
	t.Run("range", func(t *testing.T) {
		resp, body := e.get(t, e.key8001, "/files/"+e.statement, map[string]string{"Range": "bytes=5-14"})
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(e.statementB[5:15]) {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 5-14/%d", len(e.statementB)) {
			t.Fatalf("Content-Range %q", resp.Header.Get("Content-Range"))
		}
		resp, _ = e.get(t, e.key8001, "/files/"+e.statement, map[string]string{"Range": "bytes=100000-"})
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("unsatisfiable range: status %d", resp.StatusCode)
		}
	})
	t.Run("list", func(t *testing.T) {
		resp, body := e.get(t, e.key8001, "/files", nil)
		var files []settlement.FileInfo
		if resp.StatusCode != 200 || json.Unmarshal(body, &files) != nil {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		if len(files) != 2 || files[0].Name != "bill-8001-2026-11-20.csv" || files[1].Name != e.statement || files[1].SHA256 != hexSum {
			t.Fatalf("files %+v", files)
		}
	})
	cases := []struct {
		name, key, path string
		status          int
	}{
		{"no key", "", "/files/" + e.statement, 401},
		{"wrong key", "cbk_wrong", "/files/" + e.statement, 401},
		{"revoked key", e.revoked, "/files/" + e.statement, 401},
		{"other merchant's file", e.key8002, "/files/" + e.statement, 404},
		{"other merchant's dir", e.key8002, "/files/../8001/" + e.statement, 404},
		{"dot dot", e.key8001, "/files/../secret.csv", 404},
		{"encoded dot dot", e.key8001, "/files/%2e%2e/secret.csv", 404},
		{"encoded slash", e.key8001, "/files/..%2Fsecret.csv", 404},
		{"encoded backslash", e.key8001, "/files/..%5Csecret.csv", 404},
		{"absolute path", e.key8001, "/files//etc/passwd", 404},
		{"temporary file", e.key8001, "/files/.statement.tmp", 404},
		{"missing", e.key8001, "/files/statement-8001-2026-11-19.csv", 404},
		{"root", e.key8001, "/", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.rawGet(t, tc.key, tc.path); got != tc.status {
				t.Fatalf("GET %s: status %d, want %d", tc.path, got, tc.status)
			}
		})
	}
	t.Run("method", func(t *testing.T) {
		resp, err := e.srv.Client().Post(e.srv.URL+"/files", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	})
}

// TestDownloadServerRefusesPlantedSymlinks (issue 18.9): a symlink planted
// in a merchant's folder must not lead outside it; a symlink that stays
// inside the folder is served.
func TestDownloadServerRefusesPlantedSymlinks(t *testing.T) {
	t.Parallel()
	e := newDownloadEnv(t)
	own := filepath.Join(e.dir, "8001")
	other := settlement.StatementName("8002", "2026-11-20")
	plant := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(own, name)); err != nil {
			t.Fatal(err)
		}
	}
	plant("../secret.csv", "leak.csv")
	plant(filepath.Join(e.dir, "secret.csv"), "leak-abs.csv")
	plant(filepath.Join("..", "8002", other), "other.csv")
	plant("../8002", "dirlink")
	plant("/etc/passwd", "passwd")
	plant(e.statement, "alias.csv") // relative, inside the folder
	for _, name := range []string{"leak.csv", "leak-abs.csv", "other.csv", "dirlink", "passwd"} {
		resp, body := e.get(t, e.key8001, "/files/"+name, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d body %q, want 404", name, resp.StatusCode, body)
		}
	}
	// dirlink/<file> is refused by the name rule already; through the
	// symlinked directory it would be the other merchant's statement.
	if got := e.rawGet(t, e.key8001, "/files/dirlink/"+other); got != http.StatusNotFound {
		t.Errorf("through a symlinked directory: %d", got)
	}
	resp, body := e.get(t, e.key8001, "/files/alias.csv", nil)
	if resp.StatusCode != 200 || string(body) != string(e.statementB) {
		t.Errorf("a symlink inside the folder: status %d", resp.StatusCode)
	}
	// The list shows regular files only.
	_, list := e.get(t, e.key8001, "/files", nil)
	for _, name := range []string{"leak", "passwd", "dirlink"} {
		if strings.Contains(string(list), name) {
			t.Errorf("the list shows %s: %s", name, list)
		}
	}
}

// TestDownloadServerRefusesAFIFO: a FIFO planted in a merchant's folder is
// 404, and does not hang the request (opening one blocks).
func TestDownloadServerRefusesAFIFO(t *testing.T) {
	t.Parallel()
	e := newDownloadEnv(t)
	if err := syscall.Mkfifo(filepath.Join(e.dir, "8001", "fifo.csv"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.get(t, e.key8001, "/files/fifo.csv", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a FIFO: status %d, want 404", resp.StatusCode)
	}
	if _, list := e.get(t, e.key8001, "/files", nil); strings.Contains(string(list), "fifo") {
		t.Fatalf("the list shows the FIFO: %s", list)
	}
}
