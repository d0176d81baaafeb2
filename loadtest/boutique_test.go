package loadtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// boutique emulates Online Boutique's frontend for Locust tests: its six
// endpoints (microservices-demo src/frontend/main.go and handlers.go), the
// form fields they read, the redirects its POST handlers answer with and
// its session cookie, each request after a fixed latency. A request the
// real frontend would reject gets the frontend's error status and is
// recorded, so the tests also check what the generated file sends.
type boutique struct {
	latency time.Duration

	mu       sync.Mutex
	counts   map[string]int // requests by request type
	sessions map[string]bool
	rejected []string
}

// products is the upstream catalogue (src/productcatalogservice/products.json).
var products = []string{"0PUK6V6EV0", "1YMWWN1N4O", "2ZYFJ3GM2N", "66VCHSJNUP", "6E92ZMYYFZ",
	"9SIQT8TOJO", "L9ECAV7KIM", "LS4PSXUNUM", "OLJCESPC7Z"}

const sessionCookie = "shop_session-id"

func startBoutique(t *testing.T, latency time.Duration) (*boutique, *httptest.Server) {
	t.Helper()
	b := &boutique{latency: latency, counts: map[string]int{}, sessions: map[string]bool{}}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

func (b *boutique) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(b.latency)
	if c, err := r.Cookie(sessionCookie); err == nil {
		b.mu.Lock()
		b.sessions[c.Value] = true
		b.mu.Unlock()
	} else {
		b.mu.Lock()
		id := fmt.Sprintf("session-%d", len(b.sessions)+1)
		b.sessions[id] = true
		b.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/"})
	}
	reject := func(status int, why string) {
		b.mu.Lock()
		b.rejected = append(b.rejected, r.Method+" "+r.URL.Path+": "+why)
		b.mu.Unlock()
		http.Error(w, why, status)
	}
	count := func(requestType string) {
		b.mu.Lock()
		b.counts[requestType]++
		b.mu.Unlock()
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && path == "/":
		count("home")
		_, _ = w.Write([]byte("<html>home</html>"))
	case r.Method == http.MethodPost && path == "/setCurrency":
		if cur := r.FormValue("currency_code"); !slices.Contains([]string{"EUR", "USD", "JPY", "CAD", "GBP", "TRY"}, cur) {
			reject(http.StatusUnprocessableEntity, "bad currency_code "+cur)
			return
		}
		count("set_currency")
		http.Redirect(w, r, "/", http.StatusFound)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/product/"):
		if !slices.Contains(products, strings.TrimPrefix(path, "/product/")) {
			reject(http.StatusNotFound, "no such product")
			return
		}
		count("product")
		_, _ = w.Write([]byte("<html>product</html>"))
	case r.Method == http.MethodGet && path == "/cart":
		count("view_cart")
		_, _ = w.Write([]byte("<html>cart</html>"))
	case r.Method == http.MethodPost && path == "/cart":
		q, err := strconv.Atoi(r.FormValue("quantity"))
		if !slices.Contains(products, r.FormValue("product_id")) || err != nil || q < 1 || q > 10 {
			reject(http.StatusUnprocessableEntity, "bad product_id or quantity")
			return
		}
		count("add_to_cart")
		http.Redirect(w, r, "/cart", http.StatusFound)
	case r.Method == http.MethodPost && path == "/cart/checkout":
		for _, f := range []string{"email", "street_address", "zip_code", "city", "state", "country",
			"credit_card_number", "credit_card_expiration_month", "credit_card_expiration_year", "credit_card_cvv"} {
			if r.FormValue(f) == "" {
				reject(http.StatusUnprocessableEntity, "missing "+f)
				return
			}
		}
		count("checkout")
		_, _ = w.Write([]byte("<html>order complete</html>"))
	default:
		reject(http.StatusNotFound, "not an Online Boutique endpoint")
	}
}

// snapshot returns copies of the counts and rejections and the number of sessions.
func (b *boutique) snapshot() (map[string]int, []string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	counts := make(map[string]int, len(b.counts))
	for k, v := range b.counts {
		counts[k] = v
	}
	return counts, slices.Clone(b.rejected), len(b.sessions)
}
