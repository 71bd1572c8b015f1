package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/internal/progress"
)

const pushHelp = `Usage: debstrap push [flags] IMAGE REF

Pushes IMAGE, an image written before, to a registry: IMAGE is an OCI
layout (NAME.oci: its one image or multi-platform index, and what is
attached to it, such as an SBOM), an OCI archive (NAME.oci.tar) or a
docker-archive (NAME.docker.tar). REF is REGISTRY/REPOSITORY[:TAG]
(tag latest when none), with or without skopeo's docker:// prefix;
REGISTRY is written out (a host with a dot or a port, or localhost).

Only the blobs the registry lacks are uploaded; a request or upload that
fails in a way that may pass (a dropped connection, 408, 429, 5xx) is
retried after 1s, 3s and 9s. The digest of the pushed manifest (or index)
is printed as REGISTRY/REPOSITORY@sha256:....

Credentials come from the docker config ($DOCKER_CONFIG/config.json,
else ~/.docker/config.json, 'docker login' writes it) and its credential
helpers, or podman's auth.json. Registries are reached over HTTPS with
verified certificates; plain HTTP only for a registry on localhost
(127.0.0.0/8, ::1), as docker allows, or with --insecure-registry, which
also accepts a certificate that does not verify (self-signed).
See docs/registry.md.

Examples:
  debstrap push bookworm.oci docker://localhost:5000/debian:bookworm
  debstrap push --insecure-registry multi.oci.tar registry.lan:5000/base:12
`

// registryFlags are the flags of a push to a registry (build and push).
type registryFlags struct {
	insecure bool
}

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&r.insecure, "insecure-registry", false, "registry targets (docker://…): allow plain HTTP and TLS certificates that do not verify (self-signed), as docker's insecure-registries; a registry on localhost may use HTTP without it")
}

// config is the export.Registry of the flags, drawing upload progress
// on bar (silent unless on a terminal).
func (r *registryFlags) config(bar *progress.Bar) export.Registry {
	reg := export.Registry{Insecure: r.insecure, UserAgent: "debstrap/" + version()}
	if bar.Enabled() {
		reg.Progress = func(done, total int64) {
			bar.Status(fmt.Sprintf("push %s/%s", bootstrap.HumanBytes(done), bootstrap.HumanBytes(total)))
		}
	}
	return reg
}

func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf registryFlags
	rf.register(fs)
	var quiet, verbose bool
	fs.BoolVar(&quiet, "quiet", false, "print only errors")
	fs.BoolVar(&quiet, "q", false, "short for --quiet")
	fs.BoolVar(&verbose, "verbose", false, "print what is done")
	fs.BoolVar(&verbose, "v", false, "short for --verbose")
	pos, err := parse(fs, args, []string{"IMAGE", "REF"}, pushHelp, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{fmt.Errorf("want IMAGE and REF, got %d arguments", len(pos))}
	}
	ref, err := export.ParseReference(pos[1])
	if err != nil {
		return usageError{err}
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return fmt.Errorf("image %s: %w", pos[0], err)
	}
	c := common{quiet: quiet, verbose: verbose}
	log := c.logger(stderr)
	log.Info("push", "image", pos[0], "to", ref.Name())
	start := time.Now()
	digest, err := export.PushImage(ctx, pos[0], pos[1], rf.config(c.bar))
	c.bar.Finish()
	if err != nil {
		return err
	}
	log.Debug("pushed", "duration", time.Since(start).Round(time.Millisecond))
	if !quiet {
		fmt.Fprintf(stdout, "%s@%s\n", ref.Context().Name(), digest)
	}
	return nil
}
