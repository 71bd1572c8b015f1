package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/debstrap/debstrap/bootstrap"
	"github.com/debstrap/debstrap/export"
	"github.com/debstrap/debstrap/sbom"
)

const sbomHelp = `Usage: debstrap sbom [--format=spdx|cyclonedx] [-o FILE] IMAGE

Writes a software bill of materials of IMAGE: one entry per Debian package
dpkg has in it (var/lib/dpkg/status; "unpacked" and other unfinished states
included), with its version, its purl as syft writes it
(pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12), its source
package, its Maintainer as supplier, its licenses from its machine-readable
copyright file (NOASSERTION where there is none), and the packages it
depends on. IMAGE is a directory, a tarball (plain, .gz, .xz, .zst, .bz2),
an OCI layout, an OCI archive, a docker-archive, a squashfs or an ext4
image.

The format is SPDX 2.3 JSON or CycloneDX 1.6 JSON: --format, else the name
of -o's FILE (NAME.cdx.json CycloneDX, NAME.spdx.json SPDX), else SPDX.

The same image gives the same bytes: the document's time is
SOURCE_DATE_EPOCH, or the Unix epoch (1970-01-01) when it is unset; the
SPDX namespace and the CycloneDX serial number are UUIDs derived from the
document's content.

Examples:
  debstrap sbom bookworm.tar > bookworm.spdx.json
  debstrap sbom -o bookworm.cdx.json bookworm.oci
  SOURCE_DATE_EPOCH=1700000000 debstrap sbom --format=cyclonedx rootdir/
`

func runSBOM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "spdx or cyclonedx (default: from -o's FILE name, else spdx)")
	var out string
	fs.StringVar(&out, "o", "", "write the document to `FILE` (default: standard output)")
	fs.StringVar(&out, "output", "", "the same as -o")
	pos, err := parse(fs, args, []string{"IMAGE"}, sbomHelp, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("want 1 image, got %d", len(pos))}
	}
	f, err := sbom.FormatFor(out, *format)
	if err != nil {
		return usageError{err}
	}
	epoch, err := bootstrap.EpochFromEnv(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	doc, err := sbom.Read(ctx, pos[0])
	if err != nil {
		return err
	}
	data, err := sbom.Bytes(doc, f, sbom.Options{Version: version(), Created: epoch})
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return export.Copy(ctx, bytes.NewReader(data), out, nil)
}
