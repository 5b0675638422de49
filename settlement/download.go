package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/merchantkey"
)

// DownloadServer serves merchants their own statements, bills and
// checksums. Routes:
//
//	GET /files          JSON list of the caller's files: name, size, sha256, modified
//	GET /files/{name}   one file, with X-Checksum-SHA256, ETag and Range support
//
// Every request carries "Authorization: Bearer <key>" (a key issued with
// `carrierbill merchant key issue`). A file of another merchant, a missing
// file and a malformed name are all 404, so nothing can be probed. Every
// download is logged (merchant, file, status, bytes). Only regular files
// that are still inside the merchant's folder once every symlink is
// resolved are served (os.Root): a symlink planted in a folder to a file
// outside it is 404.
type DownloadServer struct {
	dir  string
	keys merchantkey.Lookup
	clk  clock.Clock
	log  *slog.Logger
}

// NewDownloadServer serves the merchant directories under dir (the Runner's
// Config.Dir).
func NewDownloadServer(dir string, keys merchantkey.Lookup, clk clock.Clock, log *slog.Logger) *DownloadServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DownloadServer{dir: dir, keys: keys, clk: clk, log: log}
}

// fileName is the only shape of name served: no separators, no leading
// dot (temporary files), no "..".
var fileName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$`)

// FileInfo is one entry of the file list.
type FileInfo struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256,omitempty"`
	Modified string `json:"modified"`
}

func (s *DownloadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	merchant, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	// Judge the path as sent: an encoded slash or dot must not become a
	// separator after decoding.
	raw := r.URL.EscapedPath()
	switch {
	case raw == "/files" || raw == "/files/":
		s.list(w, r, merchant)
		return
	case strings.HasPrefix(raw, "/files/"):
		name := strings.TrimPrefix(raw, "/files/")
		if strings.Contains(name, "%") || !fileName.MatchString(name) || strings.Contains(name, "..") {
			s.log.Warn("download rejected: bad file name", "merchant", merchant, "path", raw, "remote", r.RemoteAddr)
			http.NotFound(w, r)
			return
		}
		s.download(w, r, merchant, name)
		return
	}
	http.NotFound(w, r)
}

func (s *DownloadServer) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill statements"`)
		http.Error(w, "missing API key", http.StatusUnauthorized)
		return "", false
	}
	merchant, err := s.keys.MerchantForKey(r.Context(), merchantkey.HashKey(strings.TrimSpace(key)))
	if errors.Is(err, merchantkey.ErrUnknownKey) {
		s.log.Warn("download refused: unknown key", "remote", r.RemoteAddr, "path", r.URL.EscapedPath())
		w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill statements", error="invalid_token"`)
		http.Error(w, "unknown or revoked API key", http.StatusUnauthorized)
		return "", false
	}
	if err != nil || !validMerchant(merchant) {
		s.log.Error("download: looking up the key failed", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return "", false
	}
	return merchant, true
}

func (s *DownloadServer) list(w http.ResponseWriter, r *http.Request, merchant string) {
	files := []FileInfo{}
	root, err := os.OpenRoot(filepath.Join(s.dir, merchant))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Error("download: listing files failed", "merchant", merchant, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if root != nil {
		defer root.Close()
		entries, err := fs.ReadDir(root.FS(), ".")
		if err != nil {
			s.log.Error("download: listing files failed", "merchant", merchant, "err", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || !fileName.MatchString(name) || strings.HasSuffix(name, ".sha256") {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			files = append(files, FileInfo{Name: name, Size: info.Size(), SHA256: checksum(root, name),
				Modified: info.ModTime().In(s.clk.Now().Location()).Format("2006-01-02T15:04:05Z07:00")})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(files)
	s.log.Info("merchant file list", "merchant", merchant, "files", len(files), "remote", r.RemoteAddr)
}

// checksum reads name's .sha256 file in the merchant's folder root ("" if
// there is none, or it is not a regular file inside the folder).
func checksum(root *os.Root, name string) string {
	info, err := root.Stat(name + ".sha256")
	if err != nil || !info.Mode().IsRegular() {
		return ""
	}
	b, err := root.ReadFile(name + ".sha256")
	if err != nil {
		return ""
	}
	sum, _, _ := strings.Cut(string(b), " ")
	if len(sum) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return ""
	}
	return sum
}

// openIn opens name inside the merchant's folder: os.Root resolves every
// symlink and refuses a path that leaves the folder, and only a regular
// file is served (a FIFO or device planted there would block or leak). It
// answers os.ErrNotExist for anything else.
func openIn(root *os.Root, name string) (*os.File, os.FileInfo, error) {
	// Stat first: opening a FIFO would block.
	info, err := root.Stat(name)
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, os.ErrNotExist
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	got, err := f.Stat()
	if err != nil || !got.Mode().IsRegular() || !os.SameFile(info, got) {
		f.Close()
		return nil, nil, os.ErrNotExist
	}
	return f, got, nil
}

func (s *DownloadServer) download(w http.ResponseWriter, r *http.Request, merchant, name string) {
	root, err := os.OpenRoot(filepath.Join(s.dir, merchant))
	if err != nil {
		s.log.Info("merchant download", "merchant", merchant, "file", name, "status", http.StatusNotFound, "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	defer root.Close()
	f, info, err := openIn(root, name)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("download refused: not a regular file inside the merchant's folder", "merchant", merchant, "file", name, "err", err, "remote", r.RemoteAddr)
		}
		s.log.Info("merchant download", "merchant", merchant, "file", name, "status", http.StatusNotFound, "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	sum := checksum(root, name)
	if sum == "" { // a .sha256 file itself, or a file written without one
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	w.Header().Set("X-Checksum-SHA256", sum)
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	switch {
	case strings.HasSuffix(name, ".csv"):
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	http.ServeContent(cw, r, name, info.ModTime(), f)
	s.log.Info("merchant download", "merchant", merchant, "file", name, "status", cw.status, "bytes", cw.n,
		"range", r.Header.Get("Range"), "remote", r.RemoteAddr)
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
