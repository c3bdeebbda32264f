package gui_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/govalent/govalent/gui"
)

func TestHandlerServesPagesWithCSP(t *testing.T) {
	srv := httptest.NewServer(gui.Handler())
	defer srv.Close()
	cases := []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html", 200},
		{"/assets/app.js", "text/javascript", 200},
		{"/assets/style.css", "text/css", 200},
		{"/assets/index.html", "", 404}, // the page is served at / only
		{"/assets/", "", 404},
		{"/assets/../gui.go", "", 404},
		{"/assets/missing.js", "", 404},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: headers %v", c.path, resp.Header)
		}
		if c.path == "/" && !strings.Contains(string(body), `src="/assets/app.js"`) {
			t.Fatalf("index: %s", body)
		}
	}
}

// The scripts never hand text to an HTML parser: no innerHTML and friends, no eval, no inline handlers in the
// page (the CSP would block them anyway). Values from the API become text nodes (dom.js).
func TestScriptsBuildTheDOMWithoutMarkup(t *testing.T) {
	banned := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|DOMParser|createContextualFragment|srcdoc`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile("static/" + path)
		if err != nil {
			return err
		}
		if m := banned.Find(data); m != nil && strings.HasSuffix(path, ".js") {
			t.Errorf("%s uses %s", path, m)
		}
		if strings.HasSuffix(path, ".html") && regexp.MustCompile(`\son\w+=|<script>`).Match(data) {
			t.Errorf("%s has inline script", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
