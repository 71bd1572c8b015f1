package export

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// squashfs is written as mmdebstrap writes it: the tar stream of the
// metadata table piped into tar2sqfs (squashfs-tools-ng), xz-compressed
// 1 MiB blocks, an NFS export table. tar2sqfs keeps the tar's owners,
// modes, mtimes, device numbers, hardlinks and xattrs, takes the root
// directory's own metadata from the "./" member, and writes no time of its
// own (the superblock's is 0), so the image depends only on the stream and
// on the tar2sqfs version. (squashfs-tools' mksquashfs reads a tar only
// from 4.6 on, which Debian 12 does not have.)
var squashfsArgs = []string{"--quiet", "--no-skip", "--force", "--exportable", "--compressor", "xz", "--block-size", "1048576"}

// squashfsXattrPrefixes are the xattr namespaces the squashfs format can
// hold; system.* (ACLs) has no place in it.
var squashfsXattrPrefixes = []string{"user.", "trusted.", "security."}

func checkSquashfs(p *plan) error {
	for _, it := range p.items {
		for k := range it.Xattrs {
			ok := false
			for _, pre := range squashfsXattrPrefixes {
				ok = ok || strings.HasPrefix(k, pre)
			}
			if !ok {
				return fmt.Errorf("%s has the xattr %s, which squashfs cannot hold (only %s): write a tar or ext4 image instead", it.Path, k, strings.Join(squashfsXattrPrefixes, ", "))
			}
		}
	}
	return nil
}

func writeSquashfs(ctx context.Context, src Source, p *plan, target string, opts Options) (string, error) {
	if err := checkSquashfs(p); err != nil {
		return "", err
	}
	bin, err := lookTool(FormatSquashfs, toolTar2sqfs)
	if err != nil {
		return "", err
	}
	to, err := openToolOutput(ctx, target, opts.Stdout)
	if err != nil {
		return "", err
	}
	defer to.abort()
	if err := runTar2sqfs(ctx, bin, to.path, src, p, opts); err != nil {
		return "", err
	}
	return to.finish(ctx)
}

// runTar2sqfs writes the image at path, the tar stream going to the
// tool's standard input.
func runTar2sqfs(ctx context.Context, bin, path string, src Source, p *plan, opts Options) error {
	cmd := exec.CommandContext(ctx, bin, append(slices.Clone(squashfsArgs), path)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	bw := bufio.NewWriterSize(stdin, 1<<20)
	werr := writeTar(ctx, bw, src, p, opts.Progress)
	if werr == nil {
		werr = bw.Flush()
	}
	stdin.Close()
	cerr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case werr != nil && !isPipeErr(werr):
		// The stream's own fault (a file shorter than its entry): the
		// tool's complaint about a cut stream would hide it.
		return werr
	case cerr != nil:
		return toolError("tar2sqfs", cerr, stderr.String())
	case werr != nil:
		return fmt.Errorf("tar2sqfs stopped reading: %w", werr)
	}
	return nil
}
