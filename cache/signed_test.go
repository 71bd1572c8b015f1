package cache

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// origin serves one metadata file with validators, answering conditional
// requests like a mirror would.
type origin struct {
	mu           sync.Mutex
	body         []byte
	etag         string
	lastModified string
	status       int      // if non-zero, answer this instead
	conds        []string // the conditional headers of each request
}

func (o *origin) set(body, etag, lastModified string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.body, o.etag, o.lastModified = []byte(body), etag, lastModified
}

func (o *origin) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.conds...)
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	o.conds = append(o.conds, "inm="+inm+" ims="+ims)
	if o.status != 0 {
		http.Error(w, "no", o.status)
		return
	}
	if o.etag != "" {
		w.Header().Set("ETag", o.etag)
	}
	if o.lastModified != "" {
		w.Header().Set("Last-Modified", o.lastModified)
	}
	if (inm != "" && inm == o.etag) || (inm == "" && ims != "" && ims == o.lastModified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(o.body)
}

// verifier accepts bodies that start with "signed" and are not in bad.
type verifier struct {
	mu    sync.Mutex
	bad   map[string]bool
	calls []string
}

func (v *verifier) verify(b []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, string(b))
	if !bytes.HasPrefix(b, []byte("signed")) {
		return errors.New("no valid signature")
	}
	if v.bad[string(b)] {
		return errors.New("Valid-Until has passed")
	}
	return nil
}

func TestFetchSigned(t *testing.T) {
	const lm = "Sat, 01 Nov 2025 10:00:00 GMT"
	type step struct {
		body, etag, lastModified string // the origin's state before the fetch
		status                   int
		expire                   string // make the verifier reject this body
		want                     string // returned bytes
		wantErr                  string
		wantCond                 []string // conditional headers of the requests this step made
		wantStored               string   // the stored bytes after the step ("" = none)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"ETag round trip, 304 re-verifies the stored copy", []step{
			{body: "signed v1", etag: `"v1"`, want: "signed v1", wantCond: []string{"inm= ims="}, wantStored: "signed v1"},
			{want: "signed v1", wantCond: []string{`inm="v1" ims=`}, wantStored: "signed v1"},
			{body: "signed v2", etag: `"v2"`, want: "signed v2", wantCond: []string{`inm="v1" ims=`}, wantStored: "signed v2"},
			{want: "signed v2", wantCond: []string{`inm="v2" ims=`}, wantStored: "signed v2"},
		}},
		{"Last-Modified round trip", []step{
			{body: "signed v1", lastModified: lm, want: "signed v1", wantCond: []string{"inm= ims="}, wantStored: "signed v1"},
			{want: "signed v1", wantCond: []string{"inm= ims=" + lm}, wantStored: "signed v1"},
		}},
		{"verify failure stores nothing", []step{
			{body: "forged", etag: `"f"`, wantErr: "verify SERVER/InRelease: no valid signature", wantCond: []string{"inm= ims="}},
			// Still no validators sent: the forged file's ETag was not kept.
			{body: "signed v1", etag: `"v1"`, want: "signed v1", wantCond: []string{"inm= ims="}, wantStored: "signed v1"},
			// A forged update does not replace the stored, verified copy.
			{body: "forged 2", etag: `"f2"`, wantErr: "no valid signature", wantCond: []string{`inm="v1" ims=`}, wantStored: "signed v1"},
		}},
		{"304 but the stored copy expired: fetch again", []step{
			{body: "signed v1", etag: `"v1"`, want: "signed v1", wantCond: []string{"inm= ims="}, wantStored: "signed v1"},
			{expire: "signed v1", wantErr: "verify SERVER/InRelease: Valid-Until has passed",
				wantCond: []string{`inm="v1" ims=`, "inm= ims="}, wantStored: "signed v1"},
			{body: "signed v2", etag: `"v2"`, want: "signed v2", wantCond: []string{`inm="v1" ims=`}, wantStored: "signed v2"},
		}},
		{"404", []step{
			{status: 404, wantErr: "GET SERVER/InRelease: 404 Not Found", wantCond: []string{"inm= ims="}},
		}},
		{"500 forever", []step{
			{status: 503, wantErr: "GET SERVER/InRelease: 503 Service Unavailable (gave up after 3 attempts)",
				wantCond: []string{"inm= ims=", "inm= ims=", "inm= ims="}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			o := &origin{}
			s.handle("/InRelease", o.serve)
			v := &verifier{bad: map[string]bool{}}
			c := newCache(t, "")
			url := s.URL + "/InRelease"
			for i, st := range tt.steps {
				if st.body != "" {
					o.set(st.body, st.etag, st.lastModified)
				}
				o.status = st.status
				if st.expire != "" {
					v.bad[st.expire] = true
				}
				before := len(o.requests())
				got, err := c.FetchSigned(context.Background(), url, v.verify)
				wantErr := strings.ReplaceAll(st.wantErr, "SERVER", s.URL)
				switch {
				case wantErr == "" && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
					t.Fatalf("step %d: error %v, want %q", i, err, wantErr)
				case err == nil && string(got) != st.want:
					t.Errorf("step %d: got %q, want %q", i, got, st.want)
				}
				if conds := o.requests()[before:]; strings.Join(conds, "|") != strings.Join(st.wantCond, "|") {
					t.Errorf("step %d: requests %q, want %q", i, conds, st.wantCond)
				}
				stored, _, rerr := readSigned(c.signedPath(url), url)
				if rerr != nil || string(stored) != st.wantStored {
					t.Errorf("step %d: stored %q (%v), want %q", i, stored, rerr, st.wantStored)
				}
				checkClean(t, c)
			}
		})
	}
}

func TestFetchSignedVerifiesStoredCopy(t *testing.T) {
	s := newServer(t)
	o := &origin{}
	o.set("signed v1", `"v1"`, "")
	s.handle("/InRelease", o.serve)
	v := &verifier{}
	c := newCache(t, "")
	url := s.URL + "/InRelease"
	if _, err := c.FetchSigned(context.Background(), url, v.verify); err != nil {
		t.Fatal(err)
	}
	v.calls = nil
	if _, err := c.FetchSigned(context.Background(), url, v.verify); err != nil {
		t.Fatal(err)
	}
	if len(v.calls) != 1 || v.calls[0] != "signed v1" {
		t.Errorf("verify calls on 304: %q, want the stored copy once", v.calls)
	}
	// A stored copy tampered with on disk fails verification; the fresh
	// unconditional fetch replaces it.
	p := c.signedPath(url)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte("signed v1"), []byte("evil   v1"), 1), 0o644)
	got, err := c.FetchSigned(context.Background(), url, v.verify)
	if err != nil || string(got) != "signed v1" {
		t.Fatalf("after tampering: %q, %v", got, err)
	}
	if stored, _, _ := readSigned(p, url); string(stored) != "signed v1" {
		t.Errorf("stored %q after refetch", stored)
	}
}

func TestFetchBytes(t *testing.T) {
	s := newServer(t)
	s.handle("/Release.gpg", firstThen(1, drop([]byte("signature bytes")), serve([]byte("signature bytes"))))
	c := newCache(t, "")
	got, err := c.FetchBytes(context.Background(), s.URL+"/Release.gpg")
	if err != nil || string(got) != "signature bytes" {
		t.Fatalf("FetchBytes = %q, %v", got, err)
	}
	if s.hit("/Release.gpg") != 2 {
		t.Errorf("hits = %d, want 2", s.hit("/Release.gpg"))
	}
	entries, _ := os.ReadDir(c.signedDir())
	if len(entries) != 0 {
		t.Errorf("FetchBytes stored %d files", len(entries))
	}

	_, err = c.FetchBytes(context.Background(), s.URL+"/missing")
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 404 || he.URL != s.URL+"/missing" {
		t.Errorf("FetchBytes of missing file: %v", err)
	}

	big, _ := New(Options{Dir: t.TempDir(), MaxMetaSize: 4})
	s.handle("/big", serveChunked([]byte("12345")))
	if _, err := big.FetchBytes(context.Background(), s.URL+"/big"); err == nil || !strings.Contains(err.Error(), "exceeds the limit of 4 bytes") {
		t.Errorf("FetchBytes over the limit: %v", err)
	}
}
