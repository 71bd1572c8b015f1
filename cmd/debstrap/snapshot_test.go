package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/debstrap/debstrap/internal/testarchive"
)

// snapshotService is a fake snapshot service: one tree per archive and
// time, SERVICE/debian/ID/, whose Release files expired long ago; the
// later copy has a newer nano.
func snapshotService(t *testing.T) (url, keyring string) {
	t.Helper()
	root := t.TempDir()
	states := []struct {
		id   string
		date time.Time
		nano string
	}{
		{"20200101T000000Z", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"20210101T000000Z", time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), "9.9-1"},
	}
	var key *testarchive.Key
	for _, s := range states {
		a := testarchive.Minimal()
		a.Suites[0].Date, a.Suites[0].ValidUntil = s.date, s.date.Add(7*24*time.Hour)
		if s.nano != "" {
			debs := a.Suites[0].Packages["main"]
			for i := range debs {
				if debs[i].Name == "nano" {
					debs[i].Version = s.nano
				}
			}
		}
		k, err := testarchive.Write(filepath.Join(root, "archive", "debian", s.id), a)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	return srv.URL + "/archive", key.WriteKeyring(t, t.TempDir())
}

func TestSnapshotArchive(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("DEBSTRAP_MIRROR", "")
	t.Setenv("DEBSTRAP_SNAPSHOT_MIRROR", "")
	service, keyring := snapshotService(t)
	old := service + "/debian/20200101T000000Z"
	resolve := func(args ...string) result {
		return cli(t.Context(), append([]string{"resolve", "--keyring=" + keyring, "--cache-dir=" + t.TempDir(), "--architectures=amd64", "-q"}, args...)...)
	}
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
	}{
		{"expired", []string{"stable", old}, 1, nil,
			[]string{"expired on", "Valid-Until", "[check-valid-until=no]", "--no-check-valid-until"}},
		{"source option", []string{"stable", "deb [check-valid-until=no] " + old + " stable main"}, 0,
			[]string{"nano 7.2-1+deb12u1 amd64"}, nil},
		{"deb822 spelling is apt's too", []string{"stable", "deb [Check-Valid-Until=false] " + old + " stable main"}, 0,
			[]string{"nano 7.2-1+deb12u1 amd64"}, nil},
		{"flag", []string{"--no-check-valid-until", "--no-updates", "stable", old}, 0,
			[]string{"nano 7.2-1+deb12u1 amd64"}, nil},
		{"bad option value", []string{"stable", "deb [check-valid-until=maybe] " + old + " stable main"}, 1, nil,
			[]string{`check-valid-until="maybe": want yes or no`}},
		{"--snapshot picks the time", []string{"--snapshot=2021-01-01", "--snapshot-mirror=" + service, "--no-updates", "stable", "http://mirror.invalid/debian"}, 0,
			[]string{"nano 9.9-1 amd64"}, nil},
		{"--snapshot in the service's form", []string{"--snapshot=20200101T000000Z", "--snapshot-mirror=" + service, "--no-updates", "stable", "http://mirror.invalid/debian"}, 0,
			[]string{"nano 7.2-1+deb12u1 amd64"}, nil},
		{"--snapshot needs the service", []string{"--snapshot=20200101T000000Z", "stable", "http://mirror.invalid/debian"}, 1, nil,
			[]string{"--snapshot-mirror=URL or $DEBSTRAP_SNAPSHOT_MIRROR"}},
		{"--snapshot time", []string{"--snapshot=last tuesday", "--snapshot-mirror=" + service, "stable", "http://mirror.invalid/debian"}, 1, nil,
			[]string{`snapshot time "last tuesday"`}},
		{"a time the service lacks", []string{"--snapshot=2019-06-01", "--snapshot-mirror=" + service, "--no-updates", "stable", "http://mirror.invalid/debian"}, 1, nil,
			[]string{"/archive/debian/20190601T000000Z/dists/stable/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, resolve(tc.args...), tc.code, tc.stdout, tc.stderr)
		})
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv("DEBSTRAP_SNAPSHOT_MIRROR", service)
		want(t, resolve("--snapshot=20210101T000000Z", "--no-updates", "stable", "http://mirror.invalid/debian"), 0, []string{"nano 9.9-1 amd64"}, nil)
	})
}
