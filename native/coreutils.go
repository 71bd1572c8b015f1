package native

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// The coreutils (and util-linux, debianutils) commands scripts use, with
// the options they use. An option not implemented is unsupported, never
// ignored — except those that only matter to a running system (SELinux
// contexts, fsync).

func init() {
	register(cpCmd, "cp")
	register(lnCmd, "ln")
	register(mvCmd, "mv")
	register(rmCmd, "rm")
	register(rmdirCmd, "rmdir")
	register(mkdirCmd, "mkdir")
	register(chmodCmd, "chmod")
	register(chownCmd, "chown", "chgrp")
	register(touchCmd, "touch")
	register(installCmd, "install")
	register(catCmd, "cat")
	register(syncCmd, "sync")
	register(basenameCmd, "basename")
	register(dirnameCmd, "dirname")
	register(readlinkCmd, "readlink", "realpath")
	register(trCmd, "tr")
	register(sortCmd, "sort")
	register(uniqCmd, "uniq")
	register(cutCmd, "cut")
	register(headCmd, "head", "tail")
	register(wcCmd, "wc")
	register(sumCmd, "md5sum", "sha1sum", "sha256sum", "sha512sum")
	register(statCmd, "stat")
	register(lsCmd, "ls")
	register(seqCmd, "seq")
	register(mktempCmd, "mktemp")
	register(unameCmd, "uname")
	register(idCmd, "id")
	register(sleepCmd, "sleep")
	register(cmpCmd, "cmp")
}

// operandFiles opens the operands (or standard input for none or "-")
// one after the other.
func (c *cmd) eachInput(operands []string, fn func(name string, data []byte) error) error {
	if len(operands) == 0 {
		operands = []string{"-"}
	}
	for _, o := range operands {
		var data []byte
		var err error
		if o == "-" {
			data, err = io.ReadAll(c.stdin)
		} else {
			data, err = c.s.readFile(c.abs(o))
		}
		if err != nil {
			return c.failf("%s: %v", o, errText(err))
		}
		if err := fn(o, data); err != nil {
			return err
		}
	}
	return nil
}

// errText is an error as the C tools print it.
func errText(err error) string {
	switch {
	case isNotExist(err):
		return "No such file or directory"
	}
	return err.Error()
}

func cpCmd(c *cmd) error {
	o, err := c.parse(optSpec{"a|archive", "p", "d", "P|no-dereference", "R|recursive", "r", "f|force", "Z",
		"L|dereference", "preserve=", "T|no-target-directory", "v|verbose", "n|no-clobber", "remove-destination"}, false)
	if err != nil {
		return err
	}
	recursive := o.has("archive") || o.has("recursive") || o.has("r")
	preserve := o.has("archive") || o.has("p")
	if v := o.get("preserve"); v != "" {
		preserve = true
	}
	noDeref := o.has("archive") || o.has("d") || o.has("no-dereference") || (recursive && !o.has("dereference"))
	srcs, _, dstReal, intoDir, err := c.copyTarget(o, "cannot create")
	if err != nil {
		return err
	}
	for _, src := range srcs {
		_, se, ok, err := c.s.resolve(c.dir, src, !noDeref)
		if err == nil && !ok {
			err = &fs.PathError{Op: "stat", Path: src, Err: fs.ErrNotExist}
		}
		if err != nil {
			return c.failf("cannot stat '%s': %s", src, errText(err))
		}
		target := dstReal
		if intoDir {
			target = path.Join(dstReal, path.Base(c.abs(src)))
		}
		if o.has("no-clobber") && c.s.exists(target) {
			continue
		}
		// cp writes through a symlink at the destination.
		if t, te, ok, err := c.s.resolve("/", target, true); err == nil && ok && te.Type != tar.TypeDir && se.Type != tar.TypeSymlink {
			target = t
		}
		if err := c.s.copyEntry(se, target, preserve, recursive, c.run.umask); err != nil {
			if _, ok := err.(*stageError); ok {
				return err
			}
			return c.failf("%v", err)
		}
	}
	return nil
}

func lnCmd(c *cmd) error {
	o, err := c.parse(optSpec{"s|symbolic", "f|force", "n|no-dereference", "T|no-target-directory", "r|relative", "v|verbose"}, false)
	if err != nil {
		return err
	}
	if !o.has("symbolic") {
		return c.unsupported("hard links")
	}
	ops := o.operands
	if len(ops) == 1 {
		ops = append(ops, ".")
	}
	if len(ops) != 2 {
		if len(ops) == 0 {
			return c.failf("missing file operand")
		}
		return c.unsupported("several targets")
	}
	target, link := ops[0], ops[1]
	linkPath := c.abs(link)
	real, e, ok, err := c.s.resolve(c.dir, link, !o.has("no-dereference") && !o.has("no-target-directory"))
	if err != nil {
		return c.failf("failed to create symbolic link '%s': %s", link, errText(err))
	}
	if ok && e.Type == tar.TypeDir && !o.has("no-target-directory") {
		linkPath = path.Join(real, path.Base(target))
		real, e, ok, err = c.s.resolve("/", linkPath, false)
		if err != nil {
			return c.failf("failed to create symbolic link '%s': %s", linkPath, errText(err))
		}
	} else if real, e, ok, err = c.s.resolve(c.dir, link, false); err != nil {
		// Not a directory: the link replaces the name itself, even a
		// (dangling) symbolic link.
		return c.failf("failed to create symbolic link '%s': %s", link, errText(err))
	}
	if ok {
		if !o.has("force") {
			return c.failf("failed to create symbolic link '%s': File exists", link)
		}
		if e.Type == tar.TypeDir {
			return c.failf("'%s': cannot overwrite directory", link)
		}
	}
	if o.has("relative") {
		// GNU ln -r: relative to the link's directory, both resolved.
		tdir, _, tok, err := c.s.resolve(c.dir, path.Dir(c.abs(target)), true)
		if err != nil || !tok {
			return c.failf("failed to create symbolic link '%s': %s", link, "No such file or directory")
		}
		rel, err := relPath(path.Dir(real), path.Join(tdir, path.Base(target)))
		if err != nil {
			return c.failf("%v", err)
		}
		target = rel
	}
	if err := c.s.st.Symlink(target, real, rootfs.Entry{Mode: 0o777}); err != nil {
		return &stageError{err}
	}
	return nil
}

// relPath is the relative path from directory base to targ (both clean
// and absolute).
func relPath(base, targ string) (string, error) {
	b, t := splitComps(base), splitComps(targ)
	i := 0
	for i < len(b) && i < len(t) && b[i] == t[i] {
		i++
	}
	var parts []string
	for range b[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, t[i:]...)
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// copyTarget splits cp's or mv's operands into the sources and the
// destination, resolved; intoDir says the sources go inside it (an
// existing directory, without -T). failing is the message's start when
// the destination cannot be resolved.
func (c *cmd) copyTarget(o *opts, failing string) (srcs []string, dst, dstReal string, intoDir bool, err error) {
	if len(o.operands) < 2 {
		return nil, "", "", false, c.failf("missing file operand")
	}
	srcs, dst = o.operands[:len(o.operands)-1], o.operands[len(o.operands)-1]
	dstReal, de, ok, err := c.s.resolve(c.dir, dst, true)
	if err != nil {
		return nil, "", "", false, c.failf("%s '%s': %s", failing, dst, errText(err))
	}
	intoDir = ok && de.Type == tar.TypeDir && !o.has("no-target-directory")
	if len(srcs) > 1 && !intoDir {
		return nil, "", "", false, c.failf("target '%s' is not a directory", dst)
	}
	return srcs, dst, dstReal, intoDir, nil
}

func mvCmd(c *cmd) error {
	o, err := c.parse(optSpec{"f|force", "Z", "T|no-target-directory", "v|verbose", "n|no-clobber"}, false)
	if err != nil {
		return err
	}
	srcs, dst, dstReal, intoDir, err := c.copyTarget(o, "cannot move to")
	if err != nil {
		return err
	}
	for _, src := range srcs {
		sreal, _, ok, err := c.s.resolve(c.dir, src, false)
		if err == nil && !ok {
			return c.failf("cannot stat '%s': No such file or directory", src)
		}
		if err != nil {
			return c.failf("cannot stat '%s': %s", src, errText(err))
		}
		target := c.abs(dst)
		if intoDir {
			target = path.Join(dstReal, path.Base(sreal))
		}
		treal, te, tok, err := c.s.resolve("/", target, false)
		if err != nil {
			return c.failf("cannot move '%s' to '%s': %s", src, target, errText(err))
		}
		if tok && o.has("no-clobber") {
			continue
		}
		if tok && te.Type == tar.TypeDir {
			return c.failf("cannot overwrite directory '%s'", target)
		}
		if err := c.s.st.Rename(sreal, treal); err != nil {
			return &stageError{err}
		}
	}
	return nil
}

func rmCmd(c *cmd) error {
	o, err := c.parse(optSpec{"f|force", "r|recursive", "R", "v|verbose", "d|dir"}, false)
	if err != nil {
		return err
	}
	recursive := o.has("recursive") || o.has("R")
	st := 0
	for _, p := range o.operands {
		real, e, ok, err := c.s.resolve(c.dir, p, false)
		if err != nil || !ok {
			if !o.has("force") {
				fmt.Fprintf(c.stderr, "rm: cannot remove '%s': No such file or directory\n", p)
				st = 1
			}
			continue
		}
		if e.Type == tar.TypeDir && !recursive {
			if kids, _ := c.s.list(real); !o.has("dir") || len(kids) > 0 {
				fmt.Fprintf(c.stderr, "rm: cannot remove '%s': Is a directory\n", p)
				st = 1
				continue
			}
		}
		if err := c.s.removeEntry(real, recursive); err != nil {
			return err
		}
	}
	return status(st)
}

func rmdirCmd(c *cmd) error {
	o, err := c.parse(optSpec{"ignore-fail-on-non-empty", "p|parents", "v|verbose"}, false)
	if err != nil {
		return err
	}
	st := 0
	for _, p := range o.operands {
		dirs := []string{p}
		if o.has("parents") {
			for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
				dirs = append(dirs, d)
			}
		}
		for _, d := range dirs {
			real, e, ok, err := c.s.resolve(c.dir, d, false)
			if err != nil || !ok {
				fmt.Fprintf(c.stderr, "rmdir: failed to remove '%s': No such file or directory\n", d)
				st = 1
				break
			}
			if e.Type != tar.TypeDir {
				fmt.Fprintf(c.stderr, "rmdir: failed to remove '%s': Not a directory\n", d)
				st = 1
				break
			}
			if kids, _ := c.s.list(real); len(kids) > 0 {
				if !o.has("ignore-fail-on-non-empty") {
					fmt.Fprintf(c.stderr, "rmdir: failed to remove '%s': Directory not empty\n", d)
					st = 1
				}
				break
			}
			if err := c.s.st.Remove(real); err != nil {
				return &stageError{err}
			}
		}
	}
	return status(st)
}

// mkdirCmd is GNU mkdir. -Z (the default SELinux context) does nothing
// where SELinux is off, as in every root being built.
func mkdirCmd(c *cmd) error {
	o, err := c.parse(optSpec{"p|parents", "m|mode=", "v|verbose", "Z|context"}, false)
	if err != nil {
		return err
	}
	mode := 0o777 &^ c.run.umask
	if m := o.get("mode"); m != "" {
		if mode, err = parseMode(m, 0o777&^c.run.umask, true, c.run.umask); err != nil {
			return c.failf("%v", err)
		}
	}
	st := 0
	for _, p := range o.operands {
		full := c.abs(p)
		if o.has("parents") {
			// Missing parents get u+wx on top of the umask's mode, as
			// GNU mkdir -p does; the last one gets the mode asked for.
			comps := splitComps(full)
			for i := range comps {
				sub := "/" + strings.Join(comps[:i+1], "/")
				real, e, ok, err := c.s.resolve("/", sub, true)
				if err != nil {
					return c.failf("cannot create directory '%s': %s", p, errText(err))
				}
				if ok {
					if e.Type != tar.TypeDir {
						return c.failf("cannot create directory '%s': File exists", p)
					}
					continue
				}
				m := (0o777 &^ c.run.umask) | 0o300
				if i == len(comps)-1 {
					m = mode
				}
				if err := c.s.st.Mkdir(real, rootfs.Entry{Mode: m}); err != nil {
					return &stageError{err}
				}
			}
			continue
		}
		real, _, ok, err := c.s.resolve(c.dir, p, false)
		if err != nil {
			fmt.Fprintf(c.stderr, "mkdir: cannot create directory '%s': %s\n", p, errText(err))
			st = 1
			continue
		}
		if ok {
			fmt.Fprintf(c.stderr, "mkdir: cannot create directory '%s': File exists\n", p)
			st = 1
			continue
		}
		if err := c.s.st.Mkdir(real, rootfs.Entry{Mode: mode}); err != nil {
			return &stageError{err}
		}
	}
	return status(st)
}

func chmodCmd(c *cmd) error {
	args := c.args[1:]
	// A mode like -w or -x looks like an option.
	var mode string
	recursive, ref := false, ""
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-R" || a == "--recursive":
			recursive = true
		case a == "-v" || a == "-c" || a == "-f" || a == "--quiet" || a == "--silent":
		case strings.HasPrefix(a, "--reference="):
			ref = strings.TrimPrefix(a, "--reference=")
		case a == "--":
			files = append(files, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			return c.unsupported("option %s", a)
		case mode == "" && ref == "":
			mode = a
		default:
			files = append(files, a)
		}
	}
	if ref != "" {
		if mode != "" {
			files = append([]string{mode}, files...)
		}
		e, ok := c.s.lookup(c.abs(ref))
		if !ok {
			return c.failf("failed to get attributes of '%s': No such file or directory", ref)
		}
		mode = strconv.FormatInt(e.Mode, 8)
		if len(mode) < 5 {
			mode = "0" + mode
		}
	}
	if len(files) == 0 {
		return c.failf("missing operand")
	}
	st := 0
	for _, f := range files {
		real, e, ok, err := c.s.resolve(c.dir, f, true)
		if err != nil || !ok {
			fmt.Fprintf(c.stderr, "chmod: cannot access '%s': No such file or directory\n", f)
			st = 1
			continue
		}
		if err := c.chmodTree(real, e, mode, recursive); err != nil {
			return err
		}
	}
	return status(st)
}

func (c *cmd) chmodTree(real string, e rootfs.Entry, mode string, recursive bool) error {
	if e.Type == tar.TypeSymlink {
		return nil // chmod -R does not follow symlinks and cannot change them
	}
	m, err := parseMode(mode, e.Mode, e.Type == tar.TypeDir, c.run.umask)
	if err != nil {
		return c.failf("%v", err)
	}
	if err := c.s.st.Update(real, func(x *rootfs.Entry) { x.Mode = m }); err != nil {
		return &stageError{err}
	}
	if recursive && e.Type == tar.TypeDir {
		kids, err := c.s.list(real)
		if err != nil {
			return &stageError{err}
		}
		for _, k := range kids {
			if err := c.chmodTree(k.Path, k, mode, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func chownCmd(c *cmd) error {
	o, err := c.parse(optSpec{"R|recursive", "h|no-dereference", "reference=", "v|verbose", "c|changes", "f|silent", "quiet", "dereference"}, false)
	if err != nil {
		return err
	}
	ops := o.operands
	uid, gid := -1, -1
	if ref := o.get("reference"); ref != "" {
		e, ok := c.s.lookup(c.abs(ref))
		if !ok {
			return c.failf("failed to get attributes of '%s': No such file or directory", ref)
		}
		uid, gid = e.Uid, e.Gid
	} else {
		if len(ops) == 0 {
			return c.failf("missing operand")
		}
		spec := ops[0]
		ops = ops[1:]
		if c.name() == "chgrp" {
			spec = ":" + spec
		}
		user, group, hasSep := strings.Cut(spec, ":")
		if !hasSep {
			user, group, hasSep = strings.Cut(spec, ".")
			if hasSep {
				if _, ok := c.s.userID(spec); ok {
					user, group, hasSep = spec, "", false
				}
			}
		}
		if user != "" {
			id, ok := c.s.userID(user)
			if !ok {
				return c.failf("invalid user: '%s'", spec)
			}
			uid = id
			if hasSep && group == "" {
				// "user:" means the user's login group.
				if g, ok := c.s.primaryGroup(user); ok {
					gid = g
				}
			}
		}
		if group != "" {
			id, ok := c.s.groupID(group)
			if !ok {
				return c.failf("invalid group: '%s'", spec)
			}
			gid = id
		}
	}
	if len(ops) == 0 {
		return c.failf("missing operand")
	}
	st := 0
	for _, f := range ops {
		real, e, ok, err := c.s.resolve(c.dir, f, !o.has("no-dereference"))
		if err != nil || !ok {
			fmt.Fprintf(c.stderr, "%s: cannot access '%s': No such file or directory\n", c.name(), f)
			st = 1
			continue
		}
		if err := c.chownTree(real, e, uid, gid, o.has("recursive")); err != nil {
			return err
		}
	}
	return status(st)
}

func (c *cmd) chownTree(real string, e rootfs.Entry, uid, gid int, recursive bool) error {
	err := c.s.st.Update(real, func(x *rootfs.Entry) {
		if uid >= 0 {
			x.Uid = uid
		}
		if gid >= 0 {
			x.Gid = gid
		}
		// chown clears setuid and setgid on regular files.
		if x.Type == tar.TypeReg && (uid >= 0 || gid >= 0) {
			x.Mode &^= 0o6000
			if gid >= 0 && uid < 0 {
				// chgrp alone keeps setgid only for non-executables
				// in practice; coreutils clears both.
			}
		}
	})
	if err != nil {
		return &stageError{err}
	}
	if recursive && e.Type == tar.TypeDir {
		kids, err := c.s.list(real)
		if err != nil {
			return &stageError{err}
		}
		for _, k := range kids {
			if err := c.chownTree(k.Path, k, uid, gid, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func touchCmd(c *cmd) error {
	o, err := c.parse(optSpec{"c|no-create", "h|no-dereference", "r|reference=", "d|date=", "t=", "m", "a"}, false)
	if err != nil {
		return err
	}
	when := c.s.now()
	if ref := o.get("reference"); ref != "" {
		e, ok := c.s.lookup(c.abs(ref))
		if !ok {
			return c.failf("failed to get attributes of '%s': No such file or directory", ref)
		}
		when = e.ModTime
	} else if o.has("date") || o.has("t") {
		return c.unsupported("explicit times")
	}
	st := 0
	for _, f := range o.operands {
		real, _, ok, err := c.s.resolve(c.dir, f, !o.has("no-dereference"))
		if err != nil {
			fmt.Fprintf(c.stderr, "touch: cannot touch '%s': %s\n", f, errText(err))
			st = 1
			continue
		}
		if !ok {
			if o.has("no-create") || o.has("no-dereference") {
				continue
			}
			if err := c.s.st.WriteFile(real, nil, rootfs.Entry{Mode: 0o666 &^ c.run.umask, ModTime: when}); err != nil {
				return &stageError{err}
			}
			continue
		}
		if err := c.s.st.Update(real, func(x *rootfs.Entry) { x.ModTime = when }); err != nil {
			return &stageError{err}
		}
	}
	return status(st)
}

func installCmd(c *cmd) error {
	o, err := c.parse(optSpec{"m|mode=", "o|owner=", "g|group=", "d|directory", "D", "p|preserve-timestamps", "v|verbose"}, false)
	if err != nil {
		return err
	}
	mode := int64(0o755)
	if m := o.get("mode"); m != "" {
		if mode, err = parseMode(m, 0o755, false, 0); err != nil {
			return c.failf("%v", err)
		}
	}
	uid, gid := 0, 0
	if u := o.get("owner"); u != "" {
		id, ok := c.s.userID(u)
		if !ok {
			return c.failf("invalid user '%s'", u)
		}
		uid = id
	}
	if g := o.get("group"); g != "" {
		id, ok := c.s.groupID(g)
		if !ok {
			return c.failf("invalid group '%s'", g)
		}
		gid = id
	}
	meta := rootfs.Entry{Mode: mode, Uid: uid, Gid: gid}
	if o.has("directory") {
		for _, d := range o.operands {
			if err := c.s.st.MkdirAll(c.abs(d), rootfs.Entry{Mode: 0o755}); err != nil {
				return &stageError{err}
			}
			real, _, _, _ := c.s.resolve("/", c.abs(d), true)
			if err := c.s.st.Update(real, func(x *rootfs.Entry) { x.Mode, x.Uid, x.Gid = mode, uid, gid }); err != nil {
				return &stageError{err}
			}
		}
		return nil
	}
	if len(o.operands) != 2 {
		return c.unsupported("operands %v", o.operands)
	}
	src, dst := o.operands[0], o.operands[1]
	var data []byte
	if src != "/dev/null" {
		if data, err = c.s.readFile(c.abs(src)); err != nil {
			return c.failf("cannot stat '%s': %s", src, errText(err))
		}
	}
	if o.has("D") {
		if err := c.s.st.MkdirAll(path.Dir(c.abs(dst)), rootfs.Entry{Mode: 0o755}); err != nil {
			return &stageError{err}
		}
	}
	real, e, ok, err := c.s.resolve(c.dir, dst, true)
	if err != nil {
		return c.failf("cannot create regular file '%s': %s", dst, errText(err))
	}
	if ok && e.Type == tar.TypeDir {
		real = path.Join(real, path.Base(src))
	}
	if err := c.s.st.WriteFile(real, data, meta); err != nil {
		return &stageError{err}
	}
	return nil
}

func catCmd(c *cmd) error {
	for _, a := range c.args[1:] {
		if strings.HasPrefix(a, "-") && a != "-" {
			return c.unsupported("option %s", a)
		}
	}
	return c.eachInput(c.args[1:], func(_ string, data []byte) error {
		_, err := c.stdout.Write(data)
		return err
	})
}

func syncCmd(c *cmd) error { return nil }

func sleepCmd(c *cmd) error { return nil }

func basenameCmd(c *cmd) error {
	o, err := c.parse(optSpec{"a|multiple", "s|suffix=", "z|zero"}, true)
	if err != nil {
		return err
	}
	names, suffix := o.operands, o.get("suffix")
	if !o.has("multiple") && !o.has("suffix") && len(names) == 2 {
		names, suffix = names[:1], names[1]
	}
	if len(names) == 0 {
		return c.failf("missing operand")
	}
	for _, n := range names {
		b := strings.TrimRight(n, "/")
		if b == "" && n != "" {
			b = "/"
		} else {
			b = path.Base(b)
		}
		if suffix != "" && b != suffix && strings.HasSuffix(b, suffix) {
			b = strings.TrimSuffix(b, suffix)
		}
		fmt.Fprintln(c.stdout, b)
	}
	return nil
}

func dirnameCmd(c *cmd) error {
	o, err := c.parse(optSpec{"z|zero"}, false)
	if err != nil {
		return err
	}
	if len(o.operands) == 0 {
		return c.failf("missing operand")
	}
	for _, n := range o.operands {
		d := strings.TrimRight(n, "/")
		switch i := strings.LastIndex(d, "/"); {
		case n != "" && d == "":
			d = "/"
		case i < 0:
			d = "."
		default:
			d = strings.TrimRight(d[:i], "/")
			if d == "" {
				d = "/"
			}
		}
		fmt.Fprintln(c.stdout, d)
	}
	return nil
}

// readlinkCmd is readlink and realpath.
func readlinkCmd(c *cmd) error {
	o, err := c.parse(optSpec{"f|canonicalize", "e|canonicalize-existing", "m|canonicalize-missing", "n|no-newline", "q|quiet", "s|silent", "v|verbose", "z|zero"}, false)
	if err != nil {
		return err
	}
	realpath := c.name() == "realpath"
	st := 0
	for _, p := range o.operands {
		if p == "" {
			fmt.Fprintf(c.stderr, "%s: '': No such file or directory\n", c.name())
			st = 1
			continue
		}
		var out string
		switch {
		case realpath || o.has("canonicalize") || o.has("canonicalize-existing") || o.has("canonicalize-missing"):
			real, _, ok, err := c.s.resolve(c.dir, p, true)
			mustExist := o.has("canonicalize-existing") || (realpath && !o.has("canonicalize-missing"))
			if err != nil && o.has("canonicalize-missing") {
				real, err = path.Clean(c.abs(p)), nil
			}
			if err != nil || (!ok && mustExist) {
				if realpath {
					fmt.Fprintf(c.stderr, "realpath: %s: No such file or directory\n", p)
				}
				st = 1
				continue
			}
			out = real
		default:
			_, e, ok, err := c.s.resolve(c.dir, p, false)
			if err != nil || !ok || e.Type != tar.TypeSymlink {
				st = 1
				continue
			}
			out = e.Linkname
		}
		if o.has("no-newline") {
			fmt.Fprint(c.stdout, out)
		} else {
			fmt.Fprintln(c.stdout, out)
		}
	}
	return status(st)
}

// trSet expands a tr SET: ranges, escapes and the classes scripts use.
func trSet(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '[' && strings.HasPrefix(s[i:], "[:") {
			j := strings.Index(s[i:], ":]")
			if j < 0 {
				return nil, fmt.Errorf("bad class in %q", s)
			}
			class := s[i+2 : i+j]
			i += j + 1
			for b := 0; b < 256; b++ {
				if inClass(class, byte(b)) {
					out = append(out, byte(b))
				}
			}
			continue
		}
		if ch == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				ch = '\n'
			case 't':
				ch = '\t'
			case 'r':
				ch = '\r'
			case '\\':
				ch = '\\'
			default:
				ch = s[i]
			}
		}
		if i+2 < len(s) && s[i+1] == '-' {
			hi := s[i+2]
			for b := int(ch); b <= int(hi); b++ {
				out = append(out, byte(b))
			}
			i += 2
			continue
		}
		out = append(out, ch)
	}
	return out, nil
}

func inClass(class string, b byte) bool {
	switch class {
	case "upper":
		return 'A' <= b && b <= 'Z'
	case "lower":
		return 'a' <= b && b <= 'z'
	case "alpha":
		return inClass("upper", b) || inClass("lower", b)
	case "digit":
		return '0' <= b && b <= '9'
	case "alnum":
		return inClass("alpha", b) || inClass("digit", b)
	case "space":
		return b == ' ' || ('\t' <= b && b <= '\r')
	case "blank":
		return b == ' ' || b == '\t'
	case "punct":
		return b > ' ' && b < 0x7f && !inClass("alnum", b)
	case "xdigit":
		return inClass("digit", b) || ('a' <= b && b <= 'f') || ('A' <= b && b <= 'F')
	case "cntrl":
		return b < ' ' || b == 0x7f
	case "print":
		return b >= ' ' && b < 0x7f
	case "graph":
		return b > ' ' && b < 0x7f
	}
	return false
}

func trCmd(c *cmd) error {
	o, err := c.parse(optSpec{"d|delete", "s|squeeze-repeats", "c|complement", "C"}, true)
	if err != nil {
		return err
	}
	if o.has("complement") || o.has("C") {
		return c.unsupported("-c")
	}
	if len(o.operands) == 0 {
		return c.failf("missing operand")
	}
	set1, err := trSet(o.operands[0])
	if err != nil {
		return c.failf("%v", err)
	}
	var set2 []byte
	if len(o.operands) > 1 {
		if set2, err = trSet(o.operands[1]); err != nil {
			return c.failf("%v", err)
		}
	}
	var table [256]int
	for i := range table {
		table[i] = i
	}
	del := map[byte]bool{}
	if o.has("delete") {
		for _, b := range set1 {
			del[b] = true
		}
	} else if len(set2) > 0 {
		for i, b := range set1 {
			j := i
			if j >= len(set2) {
				j = len(set2) - 1
			}
			table[b] = int(set2[j])
		}
	}
	squeeze := map[byte]bool{}
	if o.has("squeeze-repeats") {
		sq := set1
		if len(set2) > 0 || o.has("delete") {
			sq = set2
		}
		for _, b := range sq {
			squeeze[b] = true
		}
	}
	in, err := io.ReadAll(c.stdin)
	if err != nil {
		return err
	}
	var out []byte
	for _, b := range in {
		if del[b] {
			continue
		}
		nb := byte(table[b])
		if squeeze[nb] && len(out) > 0 && out[len(out)-1] == nb {
			continue
		}
		out = append(out, nb)
	}
	_, err = c.stdout.Write(out)
	return err
}

// lines splits data in lines without their newline.
func lines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func sortCmd(c *cmd) error {
	o, err := c.parse(optSpec{"u|unique", "r|reverse", "n|numeric-sort", "g|general-numeric-sort", "V|version-sort"}, false)
	if err != nil {
		return err
	}
	var all []string
	if err := c.eachInput(o.operands, func(_ string, data []byte) error {
		all = append(all, lines(data)...)
		return nil
	}); err != nil {
		return err
	}
	less := func(a, b string) bool { return a < b }
	switch {
	case o.has("numeric-sort"):
		less = func(a, b string) bool {
			x, _ := strconv.ParseFloat(leadingNumber(a), 64)
			y, _ := strconv.ParseFloat(leadingNumber(b), 64)
			if x != y {
				return x < y
			}
			return a < b
		}
	case o.has("general-numeric-sort"):
		// As GNU sort's general_numcompare: lines without a number
		// first, then by value; ties by the whole line.
		less = func(a, b string) bool {
			x, xok := leadingFloat(a)
			y, yok := leadingFloat(b)
			switch {
			case xok != yok:
				return !xok
			case xok && x != y:
				return x < y
			}
			return a < b
		}
	case o.has("version-sort"):
		less = func(a, b string) bool { return compareVersions(a, b) < 0 }
	}
	sort.SliceStable(all, func(i, j int) bool {
		if o.has("reverse") {
			return less(all[j], all[i])
		}
		return less(all[i], all[j])
	})
	var prev *string
	for i := range all {
		if o.has("unique") && prev != nil && *prev == all[i] {
			continue
		}
		prev = &all[i]
		fmt.Fprintln(c.stdout, all[i])
	}
	return nil
}

// leadingFloat is strtod on the start of s: the longest prefix (after
// blanks) that is a decimal number, and whether there was one.
func leadingFloat(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t")
	best, ok := 0.0, false
	for i := 1; i <= len(s) && i <= 64; i++ {
		if v, err := strconv.ParseFloat(s[:i], 64); err == nil {
			best, ok = v, true
		}
	}
	return best, ok
}

func leadingNumber(s string) string {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] == '-' || s[i] == '.' || ('0' <= s[i] && s[i] <= '9')) {
		i++
	}
	return s[:i]
}

func uniqCmd(c *cmd) error {
	o, err := c.parse(optSpec{"c|count", "d|repeated", "u|unique"}, false)
	if err != nil {
		return err
	}
	if len(o.operands) > 1 {
		return c.unsupported("output file")
	}
	return c.eachInput(o.operands, func(_ string, data []byte) error {
		ls := lines(data)
		for i := 0; i < len(ls); {
			j := i
			for j < len(ls) && ls[j] == ls[i] {
				j++
			}
			n := j - i
			if (!o.has("repeated") || n > 1) && (!o.has("unique") || n == 1) {
				if o.has("count") {
					fmt.Fprintf(c.stdout, "%7d %s\n", n, ls[i])
				} else {
					fmt.Fprintln(c.stdout, ls[i])
				}
			}
			i = j
		}
		return nil
	})
}

// parseList reads a cut LIST ("1,3-5,7-").
func parseList(s string) (func(int) bool, error) {
	type rng struct{ lo, hi int }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		r := rng{1, 1 << 30}
		var err error
		if lo != "" {
			if r.lo, err = strconv.Atoi(lo); err != nil {
				return nil, fmt.Errorf("invalid list %q", s)
			}
		}
		if !isRange {
			r.hi = r.lo
		} else if hi != "" {
			if r.hi, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("invalid list %q", s)
			}
		}
		rs = append(rs, r)
	}
	return func(i int) bool {
		for _, r := range rs {
			if r.lo <= i && i <= r.hi {
				return true
			}
		}
		return false
	}, nil
}

func cutCmd(c *cmd) error {
	o, err := c.parse(optSpec{"d|delimiter=", "f|fields=", "c|characters=", "b|bytes=", "s|only-delimited"}, false)
	if err != nil {
		return err
	}
	delim := "\t"
	if o.has("delimiter") {
		delim = o.get("delimiter")
	}
	list, chars := o.get("fields"), false
	if list == "" {
		list, chars = o.get("characters"), true
		if list == "" {
			list = o.get("bytes")
		}
	}
	sel, err := parseList(list)
	if err != nil {
		return c.failf("%v", err)
	}
	return c.eachInput(o.operands, func(_ string, data []byte) error {
		for _, l := range lines(data) {
			var out []string
			if chars {
				var b strings.Builder
				for i := 0; i < len(l); i++ {
					if sel(i + 1) {
						b.WriteByte(l[i])
					}
				}
				fmt.Fprintln(c.stdout, b.String())
				continue
			}
			if !strings.Contains(l, delim) {
				if !o.has("only-delimited") {
					fmt.Fprintln(c.stdout, l)
				}
				continue
			}
			for i, f := range strings.Split(l, delim) {
				if sel(i + 1) {
					out = append(out, f)
				}
			}
			fmt.Fprintln(c.stdout, strings.Join(out, delim))
		}
		return nil
	})
}

// headCmd is head and tail with -n and -c.
func headCmd(c *cmd) error {
	args := append([]string(nil), c.args...)
	// Old style: head -5, tail -1.
	for i, a := range args[1:] {
		if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' {
			args[i+1] = "-n" + a[1:]
		}
	}
	c2 := *c
	c2.args = args
	o, err := c2.parse(optSpec{"n|lines=", "c|bytes=", "q|quiet"}, false)
	if err != nil {
		return err
	}
	tail := c.name() == "tail"
	count, bytesMode := "10", false
	if o.has("lines") {
		count = o.get("lines")
	} else if o.has("bytes") {
		count, bytesMode = o.get("bytes"), true
	}
	fromStart := strings.HasPrefix(count, "+")
	n, err := strconv.Atoi(strings.TrimPrefix(count, "+"))
	if err != nil {
		return c.failf("invalid number: '%s'", count)
	}
	return c.eachInput(o.operands, func(_ string, data []byte) error {
		if bytesMode {
			switch {
			case !tail:
				data = data[:min(n, len(data))]
			case fromStart:
				data = data[min(max(n-1, 0), len(data)):]
			default:
				data = data[max(len(data)-n, 0):]
			}
			_, err := c.stdout.Write(data)
			return err
		}
		ls := strings.SplitAfter(string(data), "\n")
		if len(ls) > 0 && ls[len(ls)-1] == "" {
			ls = ls[:len(ls)-1]
		}
		switch {
		case !tail:
			ls = ls[:min(n, len(ls))]
		case fromStart:
			ls = ls[min(max(n-1, 0), len(ls)):]
		default:
			ls = ls[max(len(ls)-n, 0):]
		}
		_, err := io.WriteString(c.stdout, strings.Join(ls, ""))
		return err
	})
}

func wcCmd(c *cmd) error {
	o, err := c.parse(optSpec{"l|lines", "c|bytes", "w|words"}, false)
	if err != nil {
		return err
	}
	return c.eachInput(o.operands, func(name string, data []byte) error {
		var parts []string
		all := !o.has("lines") && !o.has("bytes") && !o.has("words")
		if all || o.has("lines") {
			parts = append(parts, strconv.Itoa(bytes.Count(data, []byte("\n"))))
		}
		if all || o.has("words") {
			parts = append(parts, strconv.Itoa(len(strings.Fields(string(data)))))
		}
		if all || o.has("bytes") {
			parts = append(parts, strconv.Itoa(len(data)))
		}
		if name != "-" {
			parts = append(parts, name)
		}
		fmt.Fprintln(c.stdout, strings.Join(parts, " "))
		return nil
	})
}

func sumCmd(c *cmd) error {
	o, err := c.parse(optSpec{"b|binary", "t|text", "quiet", "status", "c|check"}, false)
	if err != nil {
		return err
	}
	if o.has("check") {
		return c.unsupported("--check")
	}
	var h func() hash.Hash
	switch c.name() {
	case "md5sum":
		h = md5.New
	case "sha1sum":
		h = sha1.New
	case "sha256sum":
		h = sha256.New
	case "sha512sum":
		h = sha512.New
	}
	return c.eachInput(o.operands, func(name string, data []byte) error {
		x := h()
		x.Write(data)
		fmt.Fprintf(c.stdout, "%s  %s\n", hex.EncodeToString(x.Sum(nil)), name)
		return nil
	})
}

func statCmd(c *cmd) error {
	o, err := c.parse(optSpec{"L|dereference", "c|format=", "printf=", "f|file-system"}, false)
	if err != nil {
		return err
	}
	format := o.get("format")
	if format == "" {
		if format = o.get("printf"); format == "" {
			return c.unsupported("stat without a format")
		}
	} else {
		format += "\n"
	}
	st := 0
	for _, f := range o.operands {
		_, e, ok, err := c.s.resolve(c.dir, f, o.has("dereference"))
		if err != nil || !ok {
			fmt.Fprintf(c.stderr, "stat: cannot statx '%s': No such file or directory\n", f)
			st = 1
			continue
		}
		var b strings.Builder
		for i := 0; i < len(format); i++ {
			if format[i] != '%' || i+1 >= len(format) {
				b.WriteByte(format[i])
				continue
			}
			i++
			switch format[i] {
			case 'd':
				b.WriteString("2049") // one file system: the root
			case 'i':
				h := fnv.New32a()
				h.Write([]byte(e.Path))
				b.WriteString(strconv.FormatUint(uint64(h.Sum32()&0x7fffffff), 10))
			case 'T':
				if !o.has("file-system") {
					return c.unsupported("format %%T")
				}
				b.WriteString("ext2/ext3") // the root is not on NFS
			case 'a':
				b.WriteString(strconv.FormatInt(e.Mode, 8))
			case 'u':
				b.WriteString(strconv.Itoa(e.Uid))
			case 'g':
				b.WriteString(strconv.Itoa(e.Gid))
			case 'U':
				b.WriteString(orUnknown(c.s.userName(e.Uid)))
			case 'G':
				b.WriteString(orUnknown(c.s.groupName(e.Gid)))
			case 'n':
				b.WriteString(f)
			case 's':
				b.WriteString(strconv.FormatInt(e.Size, 10))
			case 'Y':
				b.WriteString(strconv.FormatInt(e.ModTime.Unix(), 10))
			case 'F':
				b.WriteString(fileTypeName(e.Type))
			case '%':
				b.WriteByte('%')
			default:
				return c.unsupported("format %%%c", format[i])
			}
		}
		io.WriteString(c.stdout, b.String())
	}
	return status(st)
}

func orUnknown(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	return s
}

func fileTypeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeChar:
		return "character special file"
	case tar.TypeBlock:
		return "block special file"
	case tar.TypeFifo:
		return "fifo"
	}
	return "regular file"
}

// lsCmd lists the names given, as "ls -d" does; enough for "does it
// exist" checks.
// lsCmd is GNU ls as scripts use it, one name a line (its output is
// never a terminal here): operands that are not directories first, then
// each directory's entries (dot files with -a/-A), all sorted bytewise
// (the C locale the scripts run in), a "DIR:" heading when there is more
// than one operand.
func lsCmd(c *cmd) error {
	o, err := c.parse(optSpec{"L|dereference", "d|directory", "1", "a|all", "A|almost-all"}, false)
	if err != nil {
		return err
	}
	ops := o.operands
	if len(ops) == 0 {
		ops = []string{"."}
	}
	st := 0
	var files, dirs []string
	real := map[string]string{}
	for _, f := range ops {
		r, e, ok, err := c.s.resolve(c.dir, f, true)
		if err != nil || !ok {
			if _, _, lok, lerr := c.s.resolve(c.dir, f, false); lerr == nil && lok {
				files = append(files, f) // a dangling symlink
				continue
			}
			fmt.Fprintf(c.stderr, "ls: cannot access '%s': No such file or directory\n", f)
			st = 2
			continue
		}
		if e.Type == tar.TypeDir && !o.has("directory") {
			dirs = append(dirs, f)
			real[f] = r
			continue
		}
		files = append(files, f)
	}
	sort.Strings(files)
	sort.Strings(dirs)
	for _, f := range files {
		fmt.Fprintln(c.stdout, f)
	}
	for i, d := range dirs {
		if i > 0 || len(files) > 0 {
			fmt.Fprintln(c.stdout)
		}
		if len(ops) > 1 {
			fmt.Fprintf(c.stdout, "%s:\n", d)
		}
		ents, err := c.s.list(real[d])
		if err != nil {
			return &stageError{err}
		}
		var names []string
		if o.has("all") {
			names = append(names, ".", "..")
		}
		for _, k := range ents {
			n := path.Base(k.Path)
			if strings.HasPrefix(n, ".") && !o.has("all") && !o.has("almost-all") {
				continue
			}
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintln(c.stdout, n)
		}
	}
	return status(st)
}

func seqCmd(c *cmd) error {
	args := c.args[1:]
	nums := make([]int, len(args))
	for i, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			return c.unsupported("argument %q", a)
		}
		nums[i] = n
	}
	first, incr, last := 1, 1, 0
	switch len(nums) {
	case 1:
		last = nums[0]
	case 2:
		first, last = nums[0], nums[1]
	case 3:
		first, incr, last = nums[0], nums[1], nums[2]
	default:
		return c.failf("missing operand")
	}
	if incr == 0 {
		return c.failf("invalid Zero increment value")
	}
	for i := first; (incr > 0 && i <= last) || (incr < 0 && i >= last); i += incr {
		fmt.Fprintln(c.stdout, i)
	}
	return nil
}

func mktempCmd(c *cmd) error {
	o, err := c.parse(optSpec{"d|directory", "p|tmpdir=", "t", "q|quiet", "u|dry-run"}, false)
	if err != nil {
		return err
	}
	template := "tmp.XXXXXXXXXX"
	if len(o.operands) > 0 {
		template = o.operands[0]
	}
	dir := ""
	if o.has("tmpdir") || o.has("t") || len(o.operands) == 0 {
		dir = o.get("tmpdir")
		if dir == "" {
			dir = "/tmp"
		}
	}
	x := len(template) - len(strings.TrimRight(template, "X"))
	if x < 3 {
		return c.failf("too few X's in template '%s'", template)
	}
	base := template[:len(template)-x]
	// Names are deterministic: a counter, not randomness, so that two
	// builds leave the same traces (and nothing else runs concurrently).
	for {
		c.s.tmpSeq++
		name := base + fmt.Sprintf("%0*d", x, c.s.tmpSeq)
		full := c.abs(path.Join(dir, name))
		if dir == "" {
			full = c.abs(name)
		}
		if c.s.exists(full) {
			continue
		}
		if o.has("directory") {
			if err := c.s.st.Mkdir(full, rootfs.Entry{Mode: 0o700}); err != nil {
				return &stageError{err}
			}
		} else if err := c.s.st.WriteFile(full, nil, rootfs.Entry{Mode: 0o600}); err != nil {
			return &stageError{err}
		}
		fmt.Fprintln(c.stdout, full)
		return nil
	}
}

// unameMachine maps a dpkg architecture to the kernel's machine name.
var unameMachine = map[string]string{
	"amd64": "x86_64", "i386": "i686", "arm64": "aarch64", "armhf": "armv7l", "armel": "armv5tel",
	"ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64el": "mips64", "loong64": "loongarch64",
}

// unameCmd describes the kernel the image will run on, not the host's: a
// fixed recent Linux release, so that scripts checking for a minimum
// kernel pass, and the image's machine.
func unameCmd(c *cmd) error {
	o, err := c.parse(optSpec{"s|kernel-name", "r|kernel-release", "m|machine", "n|nodename", "v|kernel-version", "a|all", "p|processor", "o|operating-system", "i|hardware-platform"}, false)
	if err != nil {
		return err
	}
	machine := unameMachine[c.s.opts.Arch]
	if machine == "" {
		machine = c.s.opts.Arch
	}
	fields := []struct {
		name, val string
	}{
		{"kernel-name", "Linux"}, {"nodename", "localhost"}, {"kernel-release", "6.1.0"},
		{"kernel-version", "#1 SMP"}, {"machine", machine}, {"processor", "unknown"},
		{"hardware-platform", "unknown"}, {"operating-system", "GNU/Linux"},
	}
	var out []string
	for _, f := range fields {
		if o.has(f.name) || (o.has("all") && f.val != "unknown") {
			out = append(out, f.val)
		}
	}
	if len(out) == 0 {
		out = []string{"Linux"}
	}
	fmt.Fprintln(c.stdout, strings.Join(out, " "))
	return nil
}

// idCmd answers for root, or for a user of the stage.
func idCmd(c *cmd) error {
	o, err := c.parse(optSpec{"u|user", "g|group", "G|groups", "n|name", "r|real"}, false)
	if err != nil {
		return err
	}
	user := "root"
	if len(o.operands) > 0 {
		user = o.operands[0]
	}
	uid, ok := c.s.userID(user)
	if !ok {
		return c.failf("'%s': no such user", user)
	}
	name := c.s.userName(uid)
	gid, _ := c.s.primaryGroup(name)
	// getgrouplist's answer: the login group, then each group of
	// /etc/group that lists the user, in file order, once.
	groups := []int{gid}
	lines, _ := c.s.readDB("/etc/group")
	for _, l := range lines {
		if len(l) < 4 {
			continue
		}
		if n, err := strconv.Atoi(l[2]); err == nil && contains(strings.Split(l[3], ","), name) && !slices.Contains(groups, n) {
			groups = append(groups, n)
		}
	}
	switch {
	case o.has("groups"):
		var out []string
		for _, g := range groups {
			if o.has("name") {
				out = append(out, c.s.groupName(g))
			} else {
				out = append(out, strconv.Itoa(g))
			}
		}
		fmt.Fprintln(c.stdout, strings.Join(out, " "))
	case o.has("user") && o.has("name"):
		fmt.Fprintln(c.stdout, c.s.userName(uid))
	case o.has("user"):
		fmt.Fprintln(c.stdout, uid)
	case o.has("group") && o.has("name"):
		fmt.Fprintln(c.stdout, c.s.groupName(gid))
	case o.has("group"):
		fmt.Fprintln(c.stdout, gid)
	default:
		return c.unsupported("output format")
	}
	return nil
}

func cmpCmd(c *cmd) error {
	o, err := c.parse(optSpec{"s|silent", "quiet"}, false)
	if err != nil {
		return err
	}
	if len(o.operands) != 2 {
		return c.unsupported("operands")
	}
	var data [2][]byte
	for i, f := range o.operands {
		if data[i], err = c.s.readFile(c.abs(f)); err != nil {
			fmt.Fprintf(c.stderr, "cmp: %s: No such file or directory\n", f)
			return status(2)
		}
	}
	if bytes.Equal(data[0], data[1]) {
		return nil
	}
	if !o.has("silent") && !o.has("quiet") {
		fmt.Fprintf(c.stdout, "%s %s differ\n", o.operands[0], o.operands[1])
	}
	return status(1)
}

// scanLines calls fn for each line of r.
func scanLines(r io.Reader, fn func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
	return sc.Err()
}
