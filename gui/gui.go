// Package gui is the dispatcher's web UI: static pages, scripts and styles embedded in the binary, which read
// everything they show from the HTTP API and its event stream. The scripts are hand-written ES modules (no
// build step): every text that comes from the API goes into the page as a text node, never as markup.
package gui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path under which the scripts and styles are served.
const AssetPrefix = "/assets/"

// csp allows only this origin's scripts, styles and connections (fetch and EventSource), and no plugins,
// frames or inline script: even markup that slipped into the page could not run.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves index.html at / and the files of static/ under AssetPrefix.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate, so a new binary's UI is picked up at once
		name := strings.TrimPrefix(path.Clean(r.URL.Path), AssetPrefix)
		if r.URL.Path == "/" {
			name = "index.html"
		}
		if name == "index.html" || strings.HasPrefix(name, "/") {
			// FileServer redirects /index.html to /, and the index is only served at /
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}
