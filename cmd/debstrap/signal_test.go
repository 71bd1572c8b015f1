package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestSignalExit: a build stopped by a signal exits 128+n and says
// which signal; the cleanup (no target, no staging root) runs for both.
func TestSignalExit(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		code int
		msg  string
	}{
		{syscall.SIGTERM, 143, "debstrap build: terminated by SIGTERM"},
		{syscall.SIGINT, 130, "debstrap build: interrupted (SIGINT)"},
		{syscall.SIGHUP, 129, "debstrap build: terminated by SIGHUP"},
	}
	for _, tt := range tests {
		t.Run(signalName(tt.sig), func(t *testing.T) {
			h := newHarness(t, testarchive.Minimal())
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			h.srv.Inject(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
				if !testarchive.Matches(r, "*.deb") {
					return false
				}
				cancel(signalError{tt.sig})
				<-r.Context().Done()
				return true
			})
			out, tmp := t.TempDir(), t.TempDir()
			t.Setenv("TMPDIR", tmp)
			r := h.run(ctx, "build", "--mode=extract", "stable", filepath.Join(out, "x.tar"), h.srv.URL)
			want(t, r, tt.code, nil, []string{tt.msg})
			if n := listDir(t, out); len(n) != 0 {
				t.Errorf("target directory holds %v", n)
			}
			if n := listDir(t, tmp); len(n) != 0 {
				t.Errorf("$TMPDIR holds %v", n)
			}
		})
	}
}

// TestSignalContext: a real SIGTERM cancels the context with its cause.
func TestSignalContext(t *testing.T) {
	ctx, stop := signalContext(context.Background())
	defer stop()
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	var se signalError
	if !errors.As(context.Cause(ctx), &se) || se.sig != syscall.SIGTERM || se.code() != 143 {
		t.Errorf("cause %v", context.Cause(ctx))
	}
}

// TestBuildToStdout: TARGET "-" puts the tarball, and nothing else, on
// standard output (for "| docker import -"); the summary goes to stderr.
func TestBuildToStdout(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	t.Setenv("TMPDIR", t.TempDir())
	r := h.run(t.Context(), "build", "--mode=extract", "stable", "-", h.srv.URL)
	want(t, r, 0, nil, nil)
	tr := tar.NewReader(strings.NewReader(r.stdout))
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("standard output is not a tarball: %v", err)
		}
		n++
	}
	if n < 10 {
		t.Errorf("%d members", n)
	}
	if strings.Contains(r.stdout, "packages in") {
		t.Error("the summary is on standard output")
	}
}
