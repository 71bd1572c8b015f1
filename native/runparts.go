package native

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/interp"
)

// run-parts (debianutils): the executable files of a directory whose
// names are made of letters, digits, _ and -, in name order (C locale);
// --test and --list name them, otherwise each runs with the --arg
// arguments. ca-certificates' update-ca-certificates asks run-parts
// --test whether it has hooks (noble).

func init() {
	register(runPartsCmd, "run-parts")
}

var runPartsNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func runPartsCmd(c *cmd) error {
	var dirs, args []string
	test, list, verbose, exitOnError := false, false, false, false
	opts := true
	for i := 1; i < len(c.args); i++ {
		a := c.args[i]
		switch {
		case !opts || !strings.HasPrefix(a, "-"):
			dirs = append(dirs, a)
		case a == "--":
			opts = false
		case a == "--test":
			test = true
		case a == "--list":
			list = true
		case a == "-v" || a == "--verbose":
			verbose = true
		case a == "--exit-on-error":
			exitOnError = true
		case a == "--report":
			// Names a failing part on standard error: native reports
			// failures by themselves.
		case strings.HasPrefix(a, "--arg="):
			args = append(args, strings.TrimPrefix(a, "--arg="))
		case a == "-a" && i+1 < len(c.args):
			i++
			args = append(args, c.args[i])
		default:
			return c.unsupported("run-parts %s", a)
		}
	}
	if len(dirs) != 1 {
		return c.failf("missing operand")
	}
	dir := c.abs(dirs[0])
	real, e, ok, err := c.s.resolve("/", dir, true)
	if err != nil || !ok || e.Type != tar.TypeDir {
		fmt.Fprintf(c.stderr, "run-parts: failed to open directory %s: No such file or directory\n", dirs[0])
		return status(1)
	}
	ents, err := c.s.list(real)
	if err != nil {
		return &stageError{err}
	}
	var names []string
	for _, k := range ents {
		if n := path.Base(k.Path); runPartsNameRE.MatchString(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	rc := 0
	for _, n := range names {
		p := strings.TrimSuffix(dirs[0], "/") + "/" + n
		_, t, ok, err := c.s.resolve("/", real+"/"+n, true)
		if err != nil || !ok {
			continue
		}
		runnable := (t.Type == tar.TypeReg || t.Type == tar.TypeLink) && t.Mode&0o111 != 0
		if list {
			if t.Type != tar.TypeDir {
				fmt.Fprintln(c.stdout, p)
			}
			continue
		}
		if !runnable {
			continue
		}
		if test {
			fmt.Fprintln(c.stdout, p)
			continue
		}
		if verbose {
			fmt.Fprintf(c.stderr, "run-parts: executing %s\n", p)
		}
		err = c.s.exec(c.ctx, c.run, append([]string{real + "/" + n}, args...))
		var es interp.ExitStatus
		switch {
		case err == nil:
		case errors.As(err, &es):
			fmt.Fprintf(c.stderr, "run-parts: %s exited with return code %d\n", p, uint8(es))
			rc = 1
			if exitOnError {
				return status(rc)
			}
		default:
			return err
		}
	}
	return status(rc)
}
