package configure

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() {
	if os.Getenv("DEBSTRAP_TEST_NO_SUBID") != "" {
		// Test the single-id user namespace of users without a range.
		subIDFiles = [2]string{"/nonexistent/subuid", "/nonexistent/subgid"}
	}
}

// TestProbeUnshare runs the real probe: as root (identity map written by
// Go) or as a user (newuidmap, or a single id). It fails only where user
// namespaces are known to work: set DEBSTRAP_TEST_USERNS=1.
func TestProbeUnshare(t *testing.T) {
	full, err := probeUserNamespace()
	if err != nil && os.Getenv("DEBSTRAP_TEST_USERNS") != "" {
		t.Fatal(err)
	}
	t.Logf("probe: id range %v, %v", full, err)
}

func TestReadSubIDs(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(f, []byte("alice:100000:65536\n1001:200000:1000\nbob:x:1\n"), 0o644)
	for _, tc := range []struct {
		name string
		id   int
		want subRange
		err  bool
	}{
		{"alice", 1000, subRange{100000, 65536}, false},
		{"carol", 1001, subRange{200000, 1000}, false},
		{"dave", 1002, subRange{}, true},
		{"bob", 7, subRange{}, true},
	} {
		got, err := readSubIDs(f, tc.name, tc.id)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 16}
	if w.suffix() != "" {
		t.Fatal("empty tail not empty")
	}
	w.Write([]byte("line one\nline two\nline three\n"))
	if got := w.suffix(); !strings.HasSuffix(got, "line three") || strings.Contains(got, "one") {
		t.Fatalf("suffix %q", got)
	}
}

func TestRelayLog(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	in := `{"time":"2024-01-01T00:00:00Z","level":"WARN","msg":"hello","path":"/x","n":3}
not json
{"level":"DEBUG","msg":"quiet"}
`
	relayLog(strings.NewReader(in), log)
	want := "level=WARN msg=hello n=3 path=/x\nlevel=DEBUG msg=helper line=\"not json\"\nlevel=DEBUG msg=quiet\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("got %q", got)
	}
	if got := unescapeMountinfo(`/x\04`); got != `/x\04` {
		t.Fatalf("got %q", got)
	}
}
