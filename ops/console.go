package ops

import (
	"embed"
	"io/fs"
	"net/http"
)

// The operator console: static HTML, CSS and JavaScript embedded in the
// binary (no build step, no CDN). The pages hold no data: every figure comes
// from the operator API with the admin token the operator types once (kept
// in the browser tab's sessionStorage).
//
//go:embed console
var consoleFS embed.FS

func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/console/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-src 'self' blob:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}
