package progress

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	var out bytes.Buffer
	b := NewWriter(&out, 80)
	clock := time.Unix(1000, 0)
	b.now = func() time.Time { return clock }

	b.Plan(2, 3<<20)
	b.Start("libc6_2.36-9_amd64.deb", 2<<20)
	clock = clock.Add(time.Second)
	b.Add(1 << 20)
	b.Add(1 << 20) // within the interval: not drawn
	clock = clock.Add(time.Second)
	b.Done("libc6_2.36-9_amd64.deb", nil)
	b.Start("base-files_12.4_amd64.deb", 1<<20)
	clock = clock.Add(time.Second)
	b.Add(1 << 20)
	b.Done("base-files_12.4_amd64.deb", errors.New("boom"))
	clock = clock.Add(time.Second)
	b.Finish()

	lines := strings.Split(out.String(), "\r")[1:]
	want := []string{
		"downloaded 0/2  0 B/3.0 MiB  libc6_2.36-9_amd64.deb\x1b[K",
		"downloaded 0/2  1.0 MiB/3.0 MiB  1.0 MiB/s  libc6_2.36-9_amd64.deb\x1b[K",
		"downloaded 1/2  2.0 MiB/3.0 MiB  1.0 MiB/s  libc6_2.36-9_amd64.deb\x1b[K",
		"downloaded 1/2  3.0 MiB/3.0 MiB  1.0 MiB/s  base-files_12.4_amd64.deb\x1b[K",
		"downloaded 1/2 (1 failed)  3.0 MiB/3.0 MiB  768.0 KiB/s\x1b[K\n",
	}
	// The line is redrawn at most once per interval (here: each second).
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("drawn:\n%q\nwant:\n%q", lines, want)
	}
}

func TestBarWidth(t *testing.T) {
	var out bytes.Buffer
	b := NewWriter(&out, 20)
	b.Start(strings.Repeat("x", 100), -1)
	if got := strings.TrimSuffix(strings.TrimPrefix(out.String(), "\r"), "\x1b[K"); len(got) != 19 {
		t.Errorf("line %q is %d columns, want 19", got, len(got))
	}
}

func TestSilent(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, b := range []*Bar{New(f), New(nil), nil, {}} {
		if b.Enabled() {
			t.Errorf("bar on a regular file is enabled")
		}
		b.Plan(1, 1)
		b.Start("x", 1)
		b.Add(1)
		b.Done("x", nil)
		b.Finish()
	}
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("silent bar wrote %d bytes", fi.Size())
	}
}

// TestBarPlanCountsOnlyPlanned: downloads before Plan (an index) are on a
// line of their own; the planned count starts at zero, so done never
// exceeds the total (was "downloaded 97/96  49.0/37.5 MiB").
func TestBarPlanCountsOnlyPlanned(t *testing.T) {
	var out bytes.Buffer
	b := NewWriter(&out, 200)
	b.Start("Packages.xz", 5<<20)
	b.Add(5 << 20)
	b.Done("Packages.xz", nil)
	b.Plan(1, 1<<20)
	b.Start("libc6.deb", 1<<20)
	b.Add(1 << 20)
	b.Done("libc6.deb", nil)
	b.Finish()
	s := out.String()
	if !strings.Contains(s, "fetched 1  5.0 MiB") {
		t.Errorf("no line for the index: %q", s)
	}
	if !strings.Contains(s, "downloaded 1/1  1.0 MiB/1.0 MiB") || strings.Contains(s, "6.0 MiB") || strings.Contains(s, "2/1") {
		t.Errorf("the plan's count includes the index: %q", s)
	}
}

// TestBarWrite: a log line clears the progress line, is printed whole and
// the line is drawn again below it; Status draws a phase's own line.
func TestBarWrite(t *testing.T) {
	var out bytes.Buffer
	b := NewWriter(&out, 80)
	b.Status("unpack 3/9")
	b.Write([]byte("level=WARN msg=x\n"))
	if got, want := out.String(), "\runpack 3/9\x1b[K\r\x1b[Klevel=WARN msg=x\nunpack 3/9\x1b[K"; got != want {
		t.Errorf("drawn %q, want %q", got, want)
	}
	out.Reset()
	b.Finish()
	b.Write([]byte("after\n"))
	if got := out.String(); got != "\runpack 3/9\x1b[K\nafter\n" {
		t.Errorf("after Finish: %q", got)
	}
	var plain bytes.Buffer
	var silent Bar
	silent.Write([]byte("x\n"))
	if plain.Len() != 0 {
		t.Error("silent bar wrote")
	}
}
