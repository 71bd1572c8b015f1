package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/lock"
	"github.com/debstrap/debstrap/profile"
	"github.com/debstrap/debstrap/spec"
)

// otherCommandKeys are the spec keys of flags some command other than the
// running one has: a shared debstrap.yaml holds them, and each command
// takes its own (TestSpecKnowsEveryFlag keeps the list whole).
var otherCommandKeys = []string{
	"mode", "format", "lock", "fallback-mirror", "rebuild", "sbom",
	"native-script-timeout", "native-script-memory", "native-script-output", "native-script-writes",
	"output", "download", "check", "update",
	"prune", "reindex", "sign-with", "with-sources", "image-mirror", "list", "forget",
	"setup-hook", "extract-hook", "essential-hook", "customize-hook", "hook-dir",
	"aptopt", "dpkgopt", "skip",
	"tag", "name", "env", "label", "annotation", "cmd", "entrypoint", "workdir", "user",
	"insecure-registry", "platforms",
}

// Repeatable marks a list flag: a list in a spec file sets each item.
func (l *listFlag) Repeatable() bool { return true }

// loadSpec reads -f's spec file, if any, and sets every flag of fs it
// names that the command line did not set. Nil without -f.
func (c *common) loadSpec(fs *flag.FlagSet) (*spec.File, error) {
	var sp *spec.File
	if c.specFile != "" {
		var err error
		if sp, err = spec.Load(c.specFile); err != nil {
			return nil, err
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		set, err := sp.Apply(fs, given, func(k string) bool { return slices.Contains(otherCommandKeys, k) })
		if err != nil {
			return nil, err
		}
		c.fromSpec = set
	}
	if err := c.applyProfile(fs); err != nil {
		return nil, usageError{err}
	}
	return sp, nil
}

// applyProfile parses --profile once (c.prof) and sets the selection it
// implies (its variant, merged /usr) where neither the command line nor
// the spec set them.
func (c *common) applyProfile(fs *flag.FlagSet) error {
	p, err := profile.Parse(c.profile)
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	if c.prof = p; p == nil {
		return nil
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["variant"] {
		c.variant = p.Variant()
	}
	if !given["merged-usr"] {
		c.mergedUsr = p.MergedUsr()
	}
	return nil
}

// arguments are the command's arguments, named names (SUITE, TARGET…)
// and then MIRRORs, from the command line and the spec: arguments given
// fill the last names (so "build -f debstrap.yaml out.tar" takes SUITE
// from the file), keys name the spec's key for each ("": none); MIRRORs
// are the command line's when it gives them all, else (withSources) the
// spec's sources.
func arguments(sp *spec.File, pos, names, keys []string, withSources bool) ([]string, error) {
	n := len(names)
	if sp == nil || len(pos) > n {
		if len(pos) < n {
			return nil, usageError{fmt.Errorf("missing %s", strings.Join(names[len(pos):], " and "))}
		}
		return pos, nil
	}
	out := make([]string, n)
	copy(out[n-len(pos):], pos)
	var missing []string
	for i := 0; i < n-len(pos); i++ {
		if keys[i] == "" {
			missing = append(missing, names[i])
			continue
		}
		v, err := sp.String(keys[i])
		if err != nil {
			return nil, err
		}
		if v == "" {
			missing = append(missing, fmt.Sprintf("%s (an argument, or %s: in %s)", names[i], keys[i], sp.Path))
		}
		out[i] = v
	}
	if len(missing) > 0 {
		return nil, usageError{fmt.Errorf("missing %s", strings.Join(missing, " and "))}
	}
	if !withSources {
		return out, nil
	}
	suite := ""
	if i := slices.Index(keys, spec.KeySuite); i >= 0 {
		suite = out[i]
	}
	mirrors, err := sp.Sources(suite)
	if err != nil {
		return nil, err
	}
	return append(out, mirrors...), nil
}

// specEpoch is SOURCE_DATE_EPOCH, else the spec's epoch; zero if neither
// (then the lock's, or the Release's Date).
func specEpoch(sp *spec.File) (time.Time, error) {
	e, err := bootstrap.EpochFromEnv(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil || !e.IsZero() || sp == nil {
		return e, err
	}
	n, ok, err := sp.Epoch()
	if err != nil || !ok {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}

// matchesLock checks that the request the spec file makes (the flags it
// set) is the one lock was made for: a spec changed after its lock was
// made must not build the old set silently.
func (c *common) matchesLock(l *lock.Lock, name string) error {
	for _, k := range c.fromSpec {
		var spec, locked string
		switch k {
		case "variant":
			spec, locked = c.variant, l.Variant
		case "include":
			spec, locked = sortedList(c.include), sortedList(l.Include)
		case "components":
			spec, locked = strings.Join(c.components, ","), strings.Join(l.Components, ",")
		case "architectures":
			spec, locked = strings.Join(c.architectures, ","), strings.Join(l.Architectures, ",")
		case "include-recommends":
			spec, locked = fmt.Sprint(c.recommends), fmt.Sprint(l.Recommends)
		case "merged-usr":
			spec, locked = fmt.Sprint(c.mergedUsr), fmt.Sprint(l.MergedUsr)
		default:
			continue
		}
		if spec != locked {
			return fmt.Errorf("%s: %s is %q, but %s was made for %q: run 'debstrap lock -f %s' to lock the new set", c.specFile, k, spec, name, locked, c.specFile)
		}
	}
	return nil
}

func sortedList(l []string) string {
	s := slices.Clone(l)
	slices.Sort(s)
	return strings.Join(s, ",")
}
