package ops

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/carrierbill/carrierbill/billing"
)

// ReportService lists, serves and makes the operator reports (package
// reports) for the console and the admin API.
type ReportService struct {
	// Dir holds the report files: report-2026-11-20.html, .csv, and
	// report-2026-11.html, .csv for months.
	Dir string
	// Make writes the report of period ("2026-11-20" or "2026-11") into Dir.
	Make func(ctx context.Context, period string) error
}

var errNoReport = errors.New("ops: no such report")

// reportFile is a report's file name: report-<period>.<html|csv>.
var reportFile = regexp.MustCompile(`^report-\d{4}-\d{2}(-\d{2})?\.(html|csv)$`)

// List returns the report files, newest period first.
func (rs *ReportService) List() ([]string, error) {
	ents, err := os.ReadDir(rs.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range ents {
		if reportFile.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

func (s *server) reports(w http.ResponseWriter, _ *http.Request) {
	if s.o.Reports == nil {
		s.fail(w, ErrUnavailable)
		return
	}
	files, err := s.o.Reports.List()
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reports": files})
}

func (s *server) makeReport(w http.ResponseWriter, r *http.Request) {
	if s.o.Reports == nil || s.o.Reports.Make == nil {
		s.fail(w, ErrUnavailable)
		return
	}
	var in struct {
		Period string `json:"period"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	if !regexp.MustCompile(`^\d{4}-\d{2}(-\d{2})?$`).MatchString(in.Period) {
		s.fail(w, errors.Join(billing.ErrBadRequest, errors.New("period: a date 2026-11-20 or a month 2026-11")))
		return
	}
	if err := s.o.Reports.Make(r.Context(), in.Period); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"html": "report-" + in.Period + ".html", "csv": "report-" + in.Period + ".csv"})
}

func (s *server) reportFile(w http.ResponseWriter, r *http.Request) {
	if s.o.Reports == nil {
		s.fail(w, ErrUnavailable)
		return
	}
	name := r.PathValue("file")
	if !reportFile.MatchString(name) {
		s.fail(w, errNoReport)
		return
	}
	root, err := os.OpenRoot(s.o.Reports.Dir)
	if err != nil {
		s.fail(w, errNoReport)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		s.fail(w, errNoReport)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fail(w, err)
		return
	}
	if strings.HasSuffix(name, ".csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+filepath.Base(name)+`"`)
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}
