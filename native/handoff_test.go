package native

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/internal/testarchive"
	"github.com/debstrap/debstrap/rootfs"
)

// TestHandOffDefers: with HandOff (--mode=auto's native step) an effect
// native leaves out is deferred — its command line reported once, for
// dpkg's run — and the package configured; without it the effect is
// reported as skipped.
func TestHandOffDefers(t *testing.T) {
	for _, handOff := range []bool{false, true} {
		py := testarchive.NewDeb("python3-x", "1")
		py.Files = []testarchive.File{binFile("usr/bin/py3compile")}
		py.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\npy3compile -p python3-x || true\npy3compile -p python3-x\necho done > /x-configured\n"}
		in := unpack(t, toolbox("touch"), py, testarchive.NewDeb("uses-x", "1", "Depends: python3-x"))
		rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: handOff})
		if err != nil {
			t.Fatal(err)
		}
		status := get(t, in.st, "/var/lib/dpkg/status")
		for _, p := range []string{"python3-x", "uses-x"} {
			if !strings.Contains(status, "Package: "+p+"\nStatus: install ok installed\n") {
				t.Errorf("handOff=%v: %s not installed", handOff, p)
			}
		}
		if get(t, in.st, "/x-configured") != "done\n" {
			t.Errorf("handOff=%v: postinst did not finish", handOff)
		}
		if !handOff {
			if len(rep.Skipped) != 1 || len(rep.Deferred) != 0 {
				t.Errorf("without HandOff: skipped %v, deferred %v", rep.Skipped, rep.Deferred)
			}
			continue
		}
		want := []Deferred{{Package: "python3-x", Dir: "/", Args: []string{"py3compile", "-p", "python3-x"}}}
		if len(rep.Skipped) != 0 || !slices.EqualFunc(rep.Deferred, want, func(a, b Deferred) bool {
			return a.Package == b.Package && a.Dir == b.Dir && slices.Equal(a.Args, b.Args)
		}) {
			t.Errorf("skipped %v, deferred %+v, want %+v", rep.Skipped, rep.Deferred, want)
		}
	}
}

// TestHandOffLeavesTheRest: with HandOff, once a package is left, a
// package after it in configure order is configured natively only if
// that gives what dpkg's run would (commute.go): it depends on nothing
// left, and its postinst changes only new paths, what the package ships
// and files that do not depend on order. The others are left unpacked
// (postinst undone or not run, preinst run) for dpkg's run.
func TestHandOffLeavesTheRest(t *testing.T) {
	bad := testarchive.NewDeb("bad", "1")
	bad.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nfrobnicate --now\n"}
	shared := testarchive.NewDeb("shared", "1")
	shared.Files = []testarchive.File{{Path: "etc/shared.conf", Body: []byte("base\n"), Mode: 0o644}}
	debs := []testarchive.Deb{toolbox("touch", "getent"), bad, shared}
	postinsts := map[string]string{
		"aa": "touch /aa-postinst",                               // new: commutes
		"bb": "touch /bb-postinst; echo bb >> /etc/shared.conf",  // edits another's file
		"cc": "touch /cc-postinst; getent passwd pgsql || true",  // a missing account
		"dd": "touch /dd-postinst; echo dd >> /usr/share/dd/own", // its own file
		"ee": "touch /ee-postinst",                               // depends on bad
		"ff": "touch /ff-postinst; echo ff >> /etc/shells",       // made by a script
	}
	left := map[string]string{"bb": "/etc/shared.conf", "cc": "pgsql", "ee": "bad", "ff": "/etc/shells"}
	for _, n := range slices.Sorted(maps.Keys(postinsts)) {
		var rel []string
		if n == "ee" {
			rel = append(rel, "Depends: bad")
		}
		d := testarchive.NewDeb(n, "1", rel...)
		if n == "dd" {
			d.Files = []testarchive.File{{Path: "usr/share/dd/own", Body: []byte("own\n"), Mode: 0o644}}
		}
		d.Scripts = map[string]string{
			"preinst":  "#!/bin/sh\nset -e\ntouch /" + n + "-preinst\n",
			"postinst": "#!/bin/sh\nset -e\n" + postinsts[n] + "\n",
		}
		debs = append(debs, d)
	}
	made := testarchive.NewDeb("made", "1")
	made.Scripts = map[string]string{"preinst": "#!/bin/sh\nset -e\necho /bin/sh > /etc/shells\n"}
	debs = append(debs, made)
	for _, handOff := range []bool{false, true} {
		in := unpack(t, debs...)
		rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: handOff})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Failed) == 0 || rep.Failed[0].Package != "bad" || rep.Failed[0].State != dpkg.Unpacked {
			t.Fatalf("handOff=%v: failed %v", handOff, rep.Failed)
		}
		if !handOff {
			if len(rep.Failed) != 2 || rep.Failed[1].Package != "ee" || len(rep.Configured) != 8 {
				t.Errorf("without HandOff: configured %v, failed %v", rep.Configured, rep.Failed)
			}
			continue
		}
		var got []string
		for _, f := range rep.Failed[1:] {
			got = append(got, f.Package)
			if !strings.Contains(f.Err.Error(), left[f.Package]) || !f.PreinstRan || f.State != dpkg.Unpacked {
				t.Errorf("%s: %+v", f.Package, f)
			}
			if !lookup(in.st, "/"+f.Package+"-preinst") || lookup(in.st, "/"+f.Package+"-postinst") {
				t.Errorf("%s: preinst should have run, postinst not (or undone)", f.Package)
			}
		}
		if want := slices.Sorted(maps.Keys(left)); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("left %v, want %v", got, want)
		}
		for _, n := range []string{"aa", "dd"} {
			if !slices.Contains(rep.Configured, n) || !lookup(in.st, "/"+n+"-postinst") {
				t.Errorf("%s not configured natively: %v", n, rep.Configured)
			}
		}
		if get(t, in.st, "/etc/shared.conf") != "base\n" || get(t, in.st, "/etc/shells") != "/bin/sh\n" {
			t.Error("a left postinst's edit was not undone")
		}
	}
}

// TestHandOffCommands: man-db's mandb (through setpriv, as man) is a
// cache, left out natively and deferred whole with HandOff; mailcap's
// update-mime makes configuration, so native alone leaves mailcap
// unconfigured and HandOff defers it.
func TestHandOffCommands(t *testing.T) {
	man := testarchive.NewDeb("man-db", "1")
	man.Files = []testarchive.File{binFile("usr/bin/setpriv"), binFile("usr/bin/mandb")}
	man.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nsetpriv --reuid man --regid man --init-groups -- /usr/bin/mandb -cq\n"}
	mc := testarchive.NewDeb("mailcap", "1")
	mc.Files = []testarchive.File{binFile("usr/sbin/update-mime")}
	mc.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nupdate-mime --triggered\n"}
	for _, handOff := range []bool{false, true} {
		in := unpack(t, toolbox(), man, mc)
		rep, err := Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: handOff})
		if err != nil {
			t.Fatal(err)
		}
		if !handOff {
			if len(rep.Failed) != 1 || rep.Failed[0].Package != "mailcap" || !strings.Contains(rep.Failed[0].Err.Error(), "/etc/mailcap") ||
				len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "man-db: the manual page index caches") {
				t.Errorf("native alone: failed %v, skipped %v", rep.Failed, rep.Skipped)
			}
			continue
		}
		if len(rep.Failed) != 0 || len(rep.Deferred) != 2 ||
			strings.Join(rep.Deferred[0].Args, " ") != "setpriv --reuid man --regid man --init-groups -- /usr/bin/mandb -cq" ||
			strings.Join(rep.Deferred[1].Args, " ") != "update-mime --triggered" {
			t.Errorf("handOff: failed %v, deferred %+v", rep.Failed, rep.Deferred)
		}
	}
}

func lookup(st *rootfs.Stage, p string) bool {
	_, ok := st.Lookup(p)
	return ok
}

// TestPerlScriptNamed: a maintainer script in Perl is named as such, not
// reported as a shell syntax error.
func TestPerlScriptNamed(t *testing.T) {
	d := testarchive.NewDeb("wordlist", "1")
	d.Scripts = map[string]string{"postinst": "#!/usr/bin/perl -w\nuse strict;\nmy $x = q(:all);\n"}
	e := testarchive.NewDeb("envsh", "1")
	e.Scripts = map[string]string{"postinst": "#!/usr/bin/env sh\ntrue\n"}
	in := unpack(t, toolbox(), d, e)
	rep := in.configure(t)
	if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Err.Error(), "a perl program (#!/usr/bin/perl -w), not a shell script") {
		t.Errorf("failed %v", rep.Failed)
	}
}

// TestHandOffDpkgOrder: the packages left to dpkg come in the order a
// whole dpkg --configure -a gives them (deferrals included), and what
// native configures past the hand-off does not change what dpkg's run
// then makes: here every other postinst appends to one log, which
// native's part and dpkg's part (simulated) make together exactly as
// a run that fails nowhere does.
func TestHandOffDpkgOrder(t *testing.T) {
	logLine := func(i int) bool { return i%2 == 1 }
	debs := func(badFails bool) []testarchive.Deb {
		log := testarchive.NewDeb("log", "1")
		log.Files = []testarchive.File{{Path: "var/log/order", Body: []byte("start\n"), Mode: 0o644}}
		out := []testarchive.Deb{toolbox("touch"), log}
		for i := range 16 {
			var rel []string
			if i%3 == 0 && i+5 < 16 {
				rel = append(rel, fmt.Sprintf("Depends: p%02d", i+5)) // to the back of the queue until p(i+5) is done
			}
			if i == 10 {
				rel = append(rel, "Depends: p04")
			}
			d := testarchive.NewDeb(fmt.Sprintf("p%02d", i), "1", rel...)
			d.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\ntouch /" + d.Name + "\n"}
			if logLine(i) {
				d.Scripts["postinst"] += "echo " + d.Name + " >> /var/log/order\n"
			}
			if i == 4 && badFails {
				d.Scripts["postinst"] = "#!/bin/sh\nset -e\nfrobnicate --now\n"
			}
			out = append(out, d)
		}
		return out
	}
	whole := unpack(t, debs(false)...)
	rep, err := Configure(context.Background(), whole.st, whole.db, whole.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: true})
	if err != nil || len(rep.Failed) != 0 {
		t.Fatalf("%v %v", err, rep.Failed)
	}
	want := slices.DeleteFunc(slices.Clone(rep.Configured), func(p string) bool { return p == "toolbox" || p == "log" })
	wantLog := get(t, whole.st, "/var/log/order")

	in := unpack(t, debs(true)...)
	rep, err = Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: true})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.DeleteFunc(slices.Clone(rep.Configured), func(p string) bool { return p == "toolbox" || p == "log" })
	rest := rep.DpkgOrder.Rest
	t.Logf("whole run: %v; natively: %v; left: %v", want, got, rest)
	if len(rest) < 2 || rest[0] != "p04" {
		t.Fatalf("left %v, want p04 first and more", rest)
	}
	at := slices.Index(want, "p04")
	if !slices.Equal(got[:at], want[:at]) {
		t.Errorf("natively before the hand-off %v, want %v", got[:at], want[:at])
	}
	var commuted int
	for _, p := range want[at+1:] {
		var i int
		fmt.Sscanf(p, "p%02d", &i)
		switch {
		case logLine(i) || p == "p10":
			if !slices.Contains(rest, p) {
				t.Errorf("%s configured natively past the hand-off", p)
			}
		case slices.Contains(got, p):
			commuted++
		}
	}
	if commuted == 0 {
		t.Error("nothing past the hand-off configured natively")
	}
	// Left in the whole run's order, and dpkg's part appends the rest.
	if ord := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return !slices.Contains(rest, p) }); !slices.Equal(rest, ord) {
		t.Errorf("left %v, want the whole run's order %v", rest, ord)
	}
	log := get(t, in.st, "/var/log/order")
	for _, p := range rest {
		var i int
		fmt.Sscanf(p, "p%02d", &i)
		if logLine(i) || p == "p04" && logLine(4) {
			log += p + "\n"
		}
	}
	if log != wantLog {
		t.Errorf("log after dpkg's part:\n%s\nwant:\n%s", log, wantLog)
	}
}
