package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/bootstrap"
)

// wholeFlag is a repeatable flag whose values are kept whole (an apt or
// dpkg option may hold commas and spaces).
type wholeFlag []string

func (w *wholeFlag) String() string     { return strings.Join(*w, "\n") }
func (w *wholeFlag) Set(s string) error { *w = append(*w, s); return nil }
func (w *wholeFlag) Repeatable() bool   { return true }

// optFlags are mmdebstrap's --aptopt, --dpkgopt and --skip.
type optFlags struct {
	apt, dpkg wholeFlag
	skip      listFlag
}

func (o *optFlags) register(fs *flag.FlagSet) {
	fs.Var(&o.apt, "aptopt", "an apt option for the image, appended to /etc/apt/apt.conf.d/99debstrap (a ';' added if missing), or a file whose content is appended (repeatable); APT::Install-Recommends and Acquire::Check-Valid-Until also steer the build")
	fs.Var(&o.dpkg, "dpkgopt", "a dpkg option for the image, appended to /etc/dpkg/dpkg.cfg.d/99debstrap, or a file whose content is appended (repeatable); its path-exclude and path-include filter what is unpacked, as dpkg does")
	fs.Var(&o.skip, "skip", "skip steps, as mmdebstrap's --skip: "+strings.Join(bootstrap.Skips, ", ")+" (comma-separated; repeatable)")
}

// texts are the two files' contents: options one a line, a file's content
// as it is.
func (o *optFlags) texts() (apt, dpkg string, err error) {
	build := func(name string, vals []string, semicolon bool) (string, error) {
		var b strings.Builder
		for _, v := range vals {
			if fi, err := os.Stat(v); err == nil && fi.Mode().IsRegular() {
				data, err := os.ReadFile(v)
				if err != nil {
					return "", fmt.Errorf("--%s %s: %w", name, v, err)
				}
				b.Write(data)
				if len(data) > 0 && data[len(data)-1] != '\n' {
					b.WriteByte('\n')
				}
				continue
			}
			v = strings.TrimSpace(v)
			if strings.Contains(v, "\n") {
				return "", fmt.Errorf("--%s %q: one option a flag (or name a file)", name, v)
			}
			if semicolon && !strings.HasSuffix(v, ";") {
				v += ";"
			}
			b.WriteString(v + "\n")
		}
		return b.String(), nil
	}
	if apt, err = build("aptopt", o.apt, true); err != nil {
		return "", "", err
	}
	dpkg, err = build("dpkgopt", o.dpkg, false)
	return apt, dpkg, err
}

func (o *optFlags) skips() (map[string]bool, error) {
	m := map[string]bool{}
	for _, s := range o.skip {
		if !slices.Contains(bootstrap.Skips, s) {
			return nil, fmt.Errorf("--skip=%s: debstrap knows %s (mmdebstrap's other steps do not apply here)", s, strings.Join(bootstrap.Skips, ", "))
		}
		m[s] = true
	}
	return m, nil
}

// aptSteers reads the apt options that change the build itself, as they
// change mmdebstrap's apt: Install-Recommends and Check-Valid-Until.
func aptSteers(text string) (recommends, noValidUntil *bool) {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		key, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		val = strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`))
		on := val == "true" || val == "1" || val == "yes"
		off := val == "false" || val == "0" || val == "no"
		if !on && !off {
			continue
		}
		switch strings.ToLower(key) {
		case "apt::install-recommends":
			recommends = &on
		case "acquire::check-valid-until":
			b := off
			noValidUntil = &b
		}
	}
	return recommends, noValidUntil
}
