package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/spec"
)

const resolveHelp = `Usage: debstrap resolve [flags] SUITE [MIRROR...]

Prints the packages that a build of SUITE would install, one
"name version architecture" line each, sorted by name: the set apt would
install into an empty system for the variant and --include.

Examples:
  debstrap resolve --variant=minbase bookworm
  debstrap resolve --variant=buildd --include=git trixie http://MIRROR/debian
  debstrap resolve --output=json --include=curl=7.88.1-10+deb12u12 bookworm
`

func runResolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	output := fs.String("output", "text", "output format: text or json")
	download := fs.String("download", "", "also download the .debs into this directory")
	pos, err := parse(fs, args, nil, resolveHelp, stdout)
	if err != nil {
		return err
	}
	sp, err := c.loadSpec(fs)
	if err != nil {
		return err
	}
	if pos, err = arguments(sp, pos, []string{"SUITE"}, []string{spec.KeySuite}, true); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return usageError{fmt.Errorf("--output must be text or json, not %q", *output)}
	}
	log := c.logger(stderr)
	ch, err := c.cache(stderr, log)
	if err != nil {
		return err
	}
	start := time.Now()
	plan, err := bootstrap.Resolve(ctx, ch, c.config(pos[0], pos[1:], log))
	if err != nil {
		return err
	}
	log.Info("resolved", "suite", pos[0], "variant", c.variant, "packages", len(plan.Packages),
		"candidates", plan.Candidates, "download", bootstrap.HumanBytes(plan.DownloadSize()), "time", time.Since(start).Round(time.Millisecond))
	if *download != "" {
		if err := downloadTo(ctx, ch, c.bar, plan, *download, log); err != nil {
			return err
		}
	}
	return printPlan(stdout, plan, *output)
}

type jsonPackage struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	Filename     string `json:"filename"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	Suite        string `json:"suite"`
	Component    string `json:"component"`
}

func printPlan(w io.Writer, plan *bootstrap.Plan, format string) error {
	if format == "json" {
		out := make([]jsonPackage, len(plan.Packages))
		for i, p := range plan.Packages {
			out[i] = jsonPackage{p.Name, p.Version, p.Architecture, p.Filename, p.Size, p.SHA256, p.Index.Suite, p.Index.Component}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, p := range plan.Packages {
		if _, err := fmt.Fprintln(w, p.Name, p.Version, p.Architecture); err != nil {
			return err
		}
	}
	return nil
}
