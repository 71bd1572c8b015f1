package native

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
)

// TestLeaveSkipped: with LeaveSkipped (--mode=auto's native step) a
// package whose postinst needs an effect native leaves out is left
// half-configured for dpkg, and its dependents unpacked; without it the
// package is configured and the effect reported as skipped.
func TestLeaveSkipped(t *testing.T) {
	set := func() []testarchive.Deb {
		py := testarchive.NewDeb("python3-x", "1")
		py.Files = []testarchive.File{binFile("usr/bin/py3compile")}
		py.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\npy3compile -p python3-x || true\necho done > /x-configured\n"}
		user := testarchive.NewDeb("uses-x", "1", "Depends: python3-x")
		plain := testarchive.NewDeb("plain", "1")
		plain.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\necho done > /plain-configured\n"}
		return []testarchive.Deb{toolbox("touch"), py, user, plain}
	}
	for _, leave := range []bool{false, true} {
		in := unpack(t, set()...)
		rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, LeaveSkipped: leave})
		if err != nil {
			t.Fatal(err)
		}
		status := get(t, in.st, "/var/lib/dpkg/status")
		has := func(pkg string, st dpkg.State) bool {
			return strings.Contains(status, "Package: "+pkg+"\nStatus: install ok "+string(st)+"\n")
		}
		if !has("plain", dpkg.Installed) {
			t.Errorf("leave=%v: plain not installed", leave)
		}
		if !leave {
			if !has("python3-x", dpkg.Installed) || !has("uses-x", dpkg.Installed) || len(rep.Skipped) != 1 {
				t.Errorf("without LeaveSkipped: failed %v, skipped %v", rep.Failed, rep.Skipped)
			}
			continue
		}
		if len(rep.Skipped) != 0 {
			t.Errorf("skipped %v, want none (left for dpkg instead)", rep.Skipped)
		}
		if !has("python3-x", dpkg.HalfConfigured) || !has("uses-x", dpkg.Unpacked) {
			t.Errorf("status:\n%s", status)
		}
		var le *LeftError
		if len(rep.Failed) != 2 || rep.Failed[0].Package != "python3-x" || !errors.As(rep.Failed[0].Err, &le) ||
			!strings.Contains(le.Effect, "byte-compiling") {
			t.Errorf("failed %v", rep.Failed)
		}
	}
}
