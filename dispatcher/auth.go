package dispatcher

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// sessionCookie holds the web UI's credential once a login link was opened.
const sessionCookie = "govalent_session"

// auth guards the API: every request needs the token, as "Authorization: Bearer <token>", as the web UI's
// session cookie, or (the event stream only, since EventSource cannot set headers) as ?token=. The API runs
// code, so a web page in the user's browser must not reach it either: requests that change anything must be
// JSON (a cross-site form or text/plain post is refused) and a cross-origin request is refused unless it comes
// from a loopback page.
func (d *Dispatcher) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.authorized(r) {
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong token: send the dispatcher's token (see its token file, or open the login link `govalent start` prints)"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !isLoopbackOrigin(o) && !isSameOrigin(o, r.Host) {
			writeError(w, http.StatusForbidden, fmt.Errorf("cross-origin request from %s refused", o))
			return
		}
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeError(w, http.StatusUnsupportedMediaType, errors.New("requests must be JSON (Content-Type: application/json)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Dispatcher) authorized(r *http.Request) bool {
	if c, err := r.Cookie(sessionCookie); err == nil && equal(c.Value, d.session) {
		return true
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if q := r.URL.Query().Get("token"); got == "" && q != "" && r.URL.Path == "/api/v1/events" {
		got = q
	}
	return equal(got, d.cfg.Token)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sessionValue is what the web UI's cookie holds: derived from the token, so it lasts as long as the token
// does (across restarts) without the token itself being kept in the browser.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("govalent web UI session"))
	return hex.EncodeToString(m.Sum(nil))
}

// loginCodes are the one-time codes of login links: opening /login?code=C once sets the session cookie.
type loginCodes struct {
	mu    sync.Mutex
	codes map[string]time.Time // code -> when it expires
}

const (
	loginCodeLife = 24 * time.Hour
	maxLoginCodes = 100 // outstanding at once; the oldest go first
)

func newLoginCodes() *loginCodes { return &loginCodes{codes: map[string]time.Time{}} }

func (l *loginCodes) create() string {
	raw := make([]byte, 24)
	rand.Read(raw)
	code := hex.EncodeToString(raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for c, exp := range l.codes {
		if now.After(exp) {
			delete(l.codes, c)
		}
	}
	for len(l.codes) >= maxLoginCodes {
		oldest := ""
		for c, exp := range l.codes {
			if oldest == "" || exp.Before(l.codes[oldest]) {
				oldest = c
			}
		}
		delete(l.codes, oldest)
	}
	l.codes[code] = now.Add(loginCodeLife)
	return code
}

// use spends code; it reports whether it was valid.
func (l *loginCodes) use(code string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, ok := l.codes[code]
	delete(l.codes, code)
	return ok && time.Now().Before(exp)
}

// LoginLink returns a one-time link that logs a browser into the web UI at base (the dispatcher's address).
func (d *Dispatcher) LoginLink(base string) string {
	return strings.TrimRight(base, "/") + "/login?code=" + d.logins.create()
}

// createLoginLink answers {"url": ...}: a one-time login link for the host the request was sent to.
func (d *Dispatcher) createLoginLink(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	writeJSON(w, http.StatusCreated, map[string]string{"url": d.LoginLink(scheme + "://" + r.Host)})
}

// login spends a login link's code, sets the session cookie and sends the browser on to next (a path of
// this site; the web UI by default). A browser that already has the cookie is sent on whatever the code.
func (d *Dispatcher) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if u, err := url.Parse(next); err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) || u.Host != "" {
		next = "/"
	}
	c, err := r.Cookie(sessionCookie)
	loggedIn := err == nil && equal(c.Value, d.session)
	if !loggedIn && !d.logins.use(r.URL.Query().Get("code")) {
		writeError(w, http.StatusUnauthorized, errors.New("this login link is not valid (each works once, for a day): get a new one with `govalent start` or `govalent login-link`"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int((30 * 24 * time.Hour).Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}
