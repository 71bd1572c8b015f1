package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/debstrap/debstrap/native"
)

func TestNativeFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want native.Limits
		bad  bool
	}{
		{nil, native.DefaultLimits, false},
		{[]string{"--native-script-timeout=30s", "--native-script-memory=512M", "--native-script-output=64K", "--native-script-writes=2G"},
			native.Limits{Timeout: 30 * time.Second, Memory: 512 << 20, Output: 64 << 10, Writes: 2 << 30}, false},
		{[]string{"--native-script-output=4096"}, native.Limits{Output: 4096}, false},
		{[]string{"--native-script-memory=0"}, native.Limits{}, true},
		{[]string{"--native-script-memory=-1K"}, native.Limits{}, true},
		{[]string{"--native-script-writes=lots"}, native.Limits{}, true},
		{[]string{"--native-script-writes=99999999999G"}, native.Limits{}, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var nf nativeFlags
		nf.register(fs)
		err := fs.Parse(c.args)
		if c.bad {
			if err == nil {
				t.Errorf("%v: accepted", c.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		got := nf.limits()
		d := native.DefaultLimits
		want := c.want
		// Flags not given keep the defaults.
		if want.Timeout == 0 {
			want.Timeout = d.Timeout
		}
		if want.Memory == 0 {
			want.Memory = d.Memory
		}
		if want.Output == 0 {
			want.Output = d.Output
		}
		if want.Writes == 0 {
			want.Writes = d.Writes
		}
		want.Depth, want.Procs = 0, 0
		if got != want {
			t.Errorf("%v: %+v, want %+v", c.args, got, want)
		}
	}
}
