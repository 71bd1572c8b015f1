package native

import (
	"context"
	"errors"
	"fmt"
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

// TestHandOffLeavesTheRest: with HandOff, once a package is left every
// package after it in configure order is left unpacked (its postinst not
// run, its preinst run), so dpkg configures them in its own order.
func TestHandOffLeavesTheRest(t *testing.T) {
	bad := testarchive.NewDeb("bad", "1")
	bad.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\nfrobnicate --now\n"}
	debs := []testarchive.Deb{toolbox("touch"), bad}
	for _, n := range []string{"aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh"} {
		d := testarchive.NewDeb(n, "1")
		d.Scripts = map[string]string{
			"preinst":  "#!/bin/sh\nset -e\ntouch /" + n + "-preinst\n",
			"postinst": "#!/bin/sh\nset -e\ntouch /" + n + "-postinst\n",
		}
		debs = append(debs, d)
	}
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
			if len(rep.Failed) != 1 || len(rep.Configured) != 9 {
				t.Errorf("without HandOff: configured %v, failed %v", rep.Configured, rep.Failed)
			}
			continue
		}
		if len(rep.Failed) < 2 || len(rep.Configured)+len(rep.Failed) != 10 {
			t.Fatalf("configured %v, failed %v: want some left after bad", rep.Configured, rep.Failed)
		}
		for _, f := range rep.Failed[1:] {
			var h *HandedOffError
			if !errors.As(f.Err, &h) || h.After != "bad" || !f.PreinstRan || f.State != dpkg.Unpacked {
				t.Errorf("%+v", f)
			}
			if !lookup(in.st, "/"+f.Package+"-preinst") || lookup(in.st, "/"+f.Package+"-postinst") {
				t.Errorf("%s: preinst should have run, postinst not", f.Package)
			}
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
// whole dpkg --configure -a gives them (deferrals included), which is
// where a run that fails nowhere configures them.
func TestHandOffDpkgOrder(t *testing.T) {
	debs := func(badFails bool) []testarchive.Deb {
		out := []testarchive.Deb{toolbox("touch")}
		for i := range 16 {
			var rel []string
			if i%3 == 0 && i+5 < 16 {
				rel = append(rel, fmt.Sprintf("Depends: p%02d", i+5)) // to the back of the queue until p(i+5) is done
			}
			d := testarchive.NewDeb(fmt.Sprintf("p%02d", i), "1", rel...)
			d.Scripts = map[string]string{"postinst": "#!/bin/sh\nset -e\ntouch /" + d.Name + "\n"}
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
	want := slices.DeleteFunc(slices.Clone(rep.Configured), func(p string) bool { return p == "toolbox" })

	in := unpack(t, debs(true)...)
	rep, err = Configure(context.Background(), in.st, in.db, in.pkgs, Options{Arch: "amd64", Epoch: testEpoch, HandOff: true})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.DeleteFunc(slices.Clone(rep.Configured), func(p string) bool { return p == "toolbox" })
	if len(got) == 0 || len(rep.DpkgOrder.Rest) < 2 {
		t.Fatalf("configured %v, left %v: want some on each side", got, rep.DpkgOrder.Rest)
	}
	if rep.DpkgOrder.Rest[0] != "p04" {
		t.Errorf("left %v, want p04 first", rep.DpkgOrder.Rest)
	}
	t.Logf("whole run: %v; natively: %v", want, got)
	if got = append(got, rep.DpkgOrder.Rest...); !slices.Equal(got, want) {
		t.Errorf("configured then left %v, want %v", got, want)
	}
}
