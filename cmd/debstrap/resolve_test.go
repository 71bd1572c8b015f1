package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// names are the package names of resolve's text output, in order.
func names(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("resolve line %q: want \"name version architecture\"", line)
		}
		out = append(out, f[0])
	}
	return out
}

func TestResolve(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	url := h.srv.URL
	tests := []struct {
		name string
		args []string
		want []string // package names, sorted
		// lines that must appear verbatim in stdout
		lines []string
	}{
		{
			name:  "bare URL, default variant",
			args:  []string{"stable", url},
			want:  minimalImportant,
			lines: []string{"base-files 12.4+deb12u5 amd64", "debconf 1.5.82 all", "libc6 2.36-9+deb12u4 amd64"},
		},
		{
			name: "codename",
			args: []string{"bookworm", url},
			want: minimalImportant,
		},
		{
			name: "sources line",
			args: []string{"stable", "deb " + url + " stable main"},
			want: minimalImportant,
		},
		{
			name: "sources line with options",
			args: []string{"stable", "deb [arch=amd64] " + url + " stable main"},
			want: minimalImportant,
		},
		{
			name: "flags after the arguments",
			args: []string{"stable", url, "--variant=important"},
			want: minimalImportant,
		},
		{
			name: "important",
			args: []string{"--variant=important", "stable", url},
			want: minimalImportant,
		},
		{
			// Essential: yes and what they (Pre-)Depend on; awk is
			// provided by mawk (required) rather than gawk (optional).
			name: "essential",
			args: []string{"--variant=essential", "stable", url},
			want: []string{"base-files", "dash", "debianutils", "libc6", "mawk"},
		},
		{
			name: "custom + include",
			args: []string{"--variant=custom", "--include=hello", "stable", url},
			want: []string{"debconf", "hello", "libc6"},
		},
		{
			name: "include is repeatable and comma-separated",
			args: []string{"--variant=custom", "--include=hello", "--include=gawk,dash", "stable", url},
			want: []string{"dash", "debconf", "debianutils", "gawk", "hello", "libc6"},
		},
		{
			name:  "include NAME=VERSION",
			args:  []string{"--variant=custom", "--include=gawk=1:5.2.1-2", "stable", url},
			want:  []string{"gawk", "libc6"},
			lines: []string{"gawk 1:5.2.1-2 amd64"},
		},
		{
			name: "include NAME/SUITE",
			args: []string{"--variant=custom", "--include=hello/stable", "stable", url},
			want: []string{"debconf", "hello", "libc6"},
		},
		{
			name: "include-recommends",
			args: []string{"--include-recommends", "stable", url},
			want: []string{"base-files", "dash", "debconf", "debianutils", "hello", "libc6", "mawk", "nano"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.run(t.Context(), "resolve", tt.args...)
			want(t, r, 0, tt.lines, nil)
			if got := names(t, r.stdout); !slices.Equal(got, tt.want) {
				t.Errorf("packages = %v, want %v\n%s", got, tt.want, r)
			}
			if r.stderr != "" {
				t.Errorf("--quiet run printed to stderr:\n%s", r)
			}
		})
	}
}

// TestResolveMinbase: required adds every Priority: required package, and
// apt, which the test archive does not have.
func TestResolveMinbase(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	r := h.run(t.Context(), "resolve", "--variant=minbase", "stable", h.srv.URL)
	if r.code == 0 {
		// An archive without apt: acceptable only if apt is simply absent
		// from the set and everything required is there.
		want := []string{"base-files", "dash", "debconf", "debianutils", "libc6", "mawk"}
		if got := names(t, r.stdout); !slices.Equal(got, want) {
			t.Errorf("packages = %v, want %v\n%s", got, want, r)
		}
		return
	}
	want(t, r, 1, nil, []string{`"apt"`})

	// With apt in the archive, minbase has it.
	a := testarchive.Minimal()
	a.Suites[0].Packages["main"] = append(a.Suites[0].Packages["main"],
		testarchive.NewDeb("apt", "2.6.1", "Priority: important", "Depends: libc6"))
	h = newHarness(t, a)
	r = h.run(t.Context(), "resolve", "--variant=minbase", "stable", h.srv.URL)
	want(t, r, 0, []string{"apt 2.6.1 amd64"}, nil)
	if got, w := names(t, r.stdout), []string{"apt", "base-files", "dash", "debconf", "debianutils", "libc6", "mawk"}; !slices.Equal(got, w) {
		t.Errorf("packages = %v, want %v", got, w)
	}
}

func TestResolveJSON(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	r := h.run(t.Context(), "resolve", "--output=json", "--include=gawk", "stable", h.srv.URL)
	want(t, r, 0, nil, nil)
	var pkgs []jsonPackage
	if err := json.Unmarshal([]byte(r.stdout), &pkgs); err != nil {
		t.Fatalf("--output=json: %v\n%s", err, r)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name)
		if p.Version == "" || p.Architecture == "" || p.Size <= 0 || len(p.SHA256) != 64 ||
			!strings.HasPrefix(p.Filename, "pool/main/") || p.Suite != "stable" || p.Component != "main" {
			t.Errorf("incomplete entry %+v", p)
		}
		if p.Name == "gawk" && (p.Version != "1:5.2.1-2" || p.Filename != "pool/main/g/gawk/gawk_5.2.1-2_amd64.deb") {
			t.Errorf("gawk entry %+v", p)
		}
	}
	wantNames := append(slices.Clone(minimalImportant), "gawk")
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Errorf("packages = %v, want %v", got, wantNames)
	}
}

// TestResolveErrors: each failure exits 1 and names what went wrong, and
// how to fix it where there is a fix.
func TestResolveErrors(t *testing.T) {
	expired := testarchive.Minimal()
	expired.Suites[0].Date = time.Now().Add(-48 * time.Hour).UTC()
	expired.Suites[0].ValidUntil = time.Now().Add(-24 * time.Hour).UTC()
	future := testarchive.Minimal()
	future.Suites[0].Date = time.Now().Add(30 * 24 * time.Hour).UTC()

	tests := []struct {
		name    string
		archive testarchive.Archive
		fault   testarchive.Fault
		// args after "resolve"; MIRROR stands for the server's URL.
		// The harness's flags (keyring, cache) come first unless noFlags.
		args    []string
		noFlags bool
		stderr  func(h *harness) []string
	}{
		{
			name: "unknown package",
			args: []string{"--variant=custom", "--include=hello,nosuchpackage", "stable", "MIRROR"},
			stderr: func(*harness) []string {
				return []string{"debstrap resolve:", `"nosuchpackage"`}
			},
		},
		{
			name: "unknown version",
			args: []string{"--variant=custom", "--include=hello=9.9-9", "stable", "MIRROR"},
			stderr: func(*harness) []string {
				return []string{"hello", "9.9-9"}
			},
		},
		{
			name: "signed by another key",
			// No --keyring: the embedded Debian and Ubuntu keys do not
			// know the test key.
			noFlags: true,
			args:    []string{"--architectures=amd64", "stable", "MIRROR"},
			stderr: func(h *harness) []string {
				fpr := h.srv.Key.Fingerprint()
				return []string{
					h.srv.URL + "/dists/stable/InRelease",
					"signed by an unknown key",
					fpr[len(fpr)-16:], // the key ID, at least
					"--keyring",
				}
			},
		},
		{
			name:    "expired Valid-Until",
			archive: expired,
			args:    []string{"stable", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL, "Valid-Until", "expired"}
			},
		},
		{
			name:    "Date in the future",
			archive: future,
			args:    []string{"stable", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL, "in the future"}
			},
		},
		{
			// By the codename: testarchive matches a by-hash request to
			// its index only under dists/CODENAME, not the suite symlink.
			name:  "404 on the Packages index",
			fault: testarchive.NotFound("Packages*"),
			args:  []string{"bookworm", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL + "/dists/bookworm/main/binary-amd64/", "404"}
			},
		},
		{
			name:  "corrupt Packages index",
			fault: testarchive.Corrupt("Packages*"),
			args:  []string{"bookworm", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL + "/dists/bookworm/main/binary-amd64/", "sha256", "expected"}
			},
		},
		{
			name:  "404 on InRelease and Release",
			fault: testarchive.NotFound("*Release*"),
			args:  []string{"stable", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL + "/dists/stable/", "404"}
			},
		},
		{
			name: "suite the mirror does not have",
			args: []string{"trixie", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{h.srv.URL, "trixie"}
			},
		},
		{
			name: "component the mirror does not have",
			args: []string{"--components=main,contrib", "stable", "MIRROR"},
			stderr: func(h *harness) []string {
				return []string{"contrib"}
			},
		},
		{
			name: "unknown variant",
			args: []string{"--variant=bogus", "stable", "MIRROR"},
			stderr: func(*harness) []string {
				return []string{`unknown variant "bogus"`, "minbase"}
			},
		},
		{
			name: "architecture the mirror does not have",
			args: []string{"--architectures=arm64", "stable", "MIRROR"},
			stderr: func(*harness) []string {
				return []string{"architecture arm64"}
			},
		},
		{
			name: "not a mirror",
			args: []string{"stable", "not a mirror"},
			stderr: func(h *harness) []string {
				return []string{`mirror "not a mirror"`}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.archive
			if a.Suites == nil {
				a = testarchive.Minimal()
			}
			h := newHarness(t, a)
			if tt.fault != nil {
				h.srv.Inject(tt.fault)
			}
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "MIRROR", h.srv.URL))
			}
			var r result
			if tt.noFlags {
				args = append([]string{"resolve", "-q", "--cache-dir=" + h.cache}, args...)
				r = cli(t.Context(), args...)
			} else {
				r = h.run(t.Context(), "resolve", args...)
			}
			t.Log(r.stderr)
			want(t, r, 1, nil, tt.stderr(h))
			if r.stdout != "" {
				t.Errorf("a failed resolve printed to stdout:\n%s", r)
			}
			if strings.Contains(r.stderr, "panic") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("want one line of error:\n%s", r)
			}
		})
	}
}

// TestResolveNoMirror: without MIRROR, $DEBSTRAP_MIRROR or a host source
// for the suite's distribution, the error says how to give one.
func TestResolveNoMirror(t *testing.T) {
	h := newHarness(t, testarchive.Minimal())
	r := h.run(t.Context(), "resolve", "nosuchsuite")
	want(t, r, 1, nil, []string{"nosuchsuite", "MIRROR", "DEBSTRAP_MIRROR"})

	// $DEBSTRAP_MIRROR is the mirror when none is given.
	t.Setenv("DEBSTRAP_MIRROR", h.srv.URL)
	r = h.run(t.Context(), "resolve", "stable")
	want(t, r, 0, []string{"base-files 12.4+deb12u5 amd64"}, nil)
}
