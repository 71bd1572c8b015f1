package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/apt"
	"github.com/debstrap/debstrap/internal/testarchive"
)

func TestEntries(t *testing.T) {
	// A host whose apt sources name a Debian mirror (and a security one,
	// which is never the default).
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "etc/apt/sources.list.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	sources := "deb http://mirror.example/debian-security bookworm-security main\n" +
		"deb http://mirror.example/debian bookworm main contrib\n"
	if err := os.WriteFile(filepath.Join(host, "etc/apt/sources.list"), []byte(sources), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()

	type entry struct{ uri, suite, comps string }
	tests := []struct {
		name string
		cfg  Config
		want []entry
		err  string
	}{
		{
			name: "bare URL takes suite and components from the config",
			cfg:  Config{Suite: "trixie", Mirrors: []string{"http://m.example/debian"}, Components: []string{"main", "contrib"}, HostRoot: empty},
			want: []entry{
				{"http://m.example/debian", "trixie", "main contrib"},
				{"http://m.example/debian", "trixie-updates", "main contrib"},
				{"http://m.example/debian-security", "trixie-security", "main contrib"},
			},
		},
		{
			name: "--no-updates: the bare URL alone",
			cfg:  Config{Suite: "trixie", Mirrors: []string{"http://m.example/debian"}, Components: []string{"main"}, HostRoot: empty, NoUpdates: true},
			want: []entry{{"http://m.example/debian", "trixie", "main"}},
		},
		{
			name: "a rolling suite has no pockets",
			cfg:  Config{Suite: "sid", Mirrors: []string{"http://m.example/debian"}, Components: []string{"main"}, HostRoot: empty},
			want: []entry{{"http://m.example/debian", "sid", "main"}},
		},
		{
			name: "a bare URL beside an entry: the sources are spelled out",
			cfg: Config{Suite: "bookworm", Components: []string{"main"}, HostRoot: empty, Mirrors: []string{
				"http://m.example/debian", "deb http://s.example/debian-security bookworm-security main",
			}},
			want: []entry{
				{"http://m.example/debian", "bookworm", "main"},
				{"http://s.example/debian-security", "bookworm-security", "main"},
			},
		},
		{
			name: "sources lines",
			cfg: Config{Suite: "noble", Components: []string{"main"}, HostRoot: empty, Mirrors: []string{
				"deb http://m.example/ubuntu noble main universe",
				"deb http://m.example/ubuntu noble-updates main",
			}},
			want: []entry{
				{"http://m.example/ubuntu", "noble", "main universe"},
				{"http://m.example/ubuntu", "noble-updates", "main"},
			},
		},
		{
			name: "empty MIRROR arguments are skipped",
			cfg:  Config{Suite: "sid", Mirrors: []string{"", "http://m.example/debian"}, Components: []string{"main"}, HostRoot: empty},
			want: []entry{{"http://m.example/debian", "sid", "main"}},
		},
		{
			name: "DEBSTRAP_MIRROR",
			cfg:  Config{Suite: "trixie", Components: []string{"main"}, MirrorEnv: "http://env.example/debian", HostRoot: host},
			want: []entry{
				{"http://env.example/debian", "trixie", "main"},
				{"http://env.example/debian", "trixie-updates", "main"},
				{"http://env.example/debian-security", "trixie-security", "main"},
			},
		},
		{
			name: "the host's source for the same distribution",
			cfg:  Config{Suite: "trixie", Components: []string{"main"}, HostRoot: host},
			want: []entry{
				{"http://mirror.example/debian", "trixie", "main"},
				{"http://mirror.example/debian", "trixie-updates", "main"},
				{"http://mirror.example/debian-security", "trixie-security", "main"},
			},
		},
		{
			name: "no host source for the distribution",
			cfg:  Config{Suite: "noble", Components: []string{"main"}, HostRoot: host},
			err:  "noble",
		},
		{
			name: "unknown suite, no mirror",
			cfg:  Config{Suite: "nosuchsuite", Components: []string{"main"}, HostRoot: host},
			err:  "DEBSTRAP_MIRROR",
		},
		{
			name: "not a mirror",
			cfg:  Config{Suite: "trixie", Mirrors: []string{"bogus"}, HostRoot: host},
			err:  `"bogus"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := Entries(tt.cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				if tt.cfg.Mirrors == nil && !errors.Is(err, apt.ErrNoMirror) {
					t.Errorf("err = %v, want apt.ErrNoMirror", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []entry
			for _, e := range es {
				got = append(got, entry{e.URI, e.Suite, strings.Join(e.Components, " ")})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Entries = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDebName(t *testing.T) {
	for _, tt := range []struct{ name, version, arch, want string }{
		{"mawk", "1.3.4.20200120-3.1", "amd64", "mawk_1.3.4.20200120-3.1_amd64.deb"},
		{"gawk", "1:5.2.1-2", "amd64", "gawk_1%3a5.2.1-2_amd64.deb"},
		{"debconf", "1.5.82", "all", "debconf_1.5.82_all.deb"},
		{"x", "2:1.0~rc1+dfsg-1", "arm64", "x_2%3a1.0~rc1+dfsg-1_arm64.deb"},
	} {
		if got := DebName(&apt.Package{Name: tt.name, Version: tt.version, Architecture: tt.arch}); got != tt.want {
			t.Errorf("DebName = %q, want %q", got, tt.want)
		}
	}
}

// TestResolvePlan: the plan of the Minimal archive, and its downloads.
func TestResolvePlan(t *testing.T) {
	b := newTestBuild(t, "unused.tar")
	plan, err := Resolve(t.Context(), b.cache, b.cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range plan.Packages {
		names = append(names, p.Name)
	}
	if want := []string{"base-files", "dash", "debconf", "debianutils", "libc6", "mawk", "nano"}; !slices.Equal(names, want) {
		t.Errorf("packages %v, want %v", names, want)
	}
	if plan.Release.Codename != "bookworm" || plan.Architecture != "amd64" || len(plan.Foreign) != 0 {
		t.Errorf("plan: release %+v, architecture %s, foreign %v", plan.Release, plan.Architecture, plan.Foreign)
	}
	if plan.Candidates != len(testarchive.MinimalDebs()) {
		t.Errorf("candidates %d, want %d", plan.Candidates, len(testarchive.MinimalDebs()))
	}
	items := plan.Items()
	var total int64
	for i, it := range items {
		p := plan.Packages[i]
		total += p.Size
		if it.Name != DebName(p) || it.SHA256 != p.SHA256 || it.Size != p.Size ||
			len(it.URLs) != 1 || it.URLs[0] != b.srv.URL+"/"+p.Filename {
			t.Errorf("item %+v for %s", it, p.Name)
		}
	}
	if plan.DownloadSize() != total || total <= 0 {
		t.Errorf("DownloadSize %d, want %d", plan.DownloadSize(), total)
	}

	// A keyring that does not hold the archive's key.
	other, err := testarchive.NewKey("someone else")
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.cfg.Config
	cfg.Keyring = other.WriteKeyring(t, t.TempDir())
	if _, err := Resolve(t.Context(), b.cache, cfg); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("foreign keyring: err = %v", err)
	}
	cfg.Keyring = filepath.Join(t.TempDir(), "missing.gpg")
	if _, err := Resolve(t.Context(), b.cache, cfg); err == nil || !strings.Contains(err.Error(), "--keyring") || !strings.Contains(err.Error(), "missing.gpg") {
		t.Errorf("missing keyring: err = %v", err)
	}
}
