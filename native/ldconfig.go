package native

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// ldconfig: /etc/ld.so.cache in glibc's format ("glibc-ld.so.cache1.1"
// with the extension directory of glibc 2.33 and later), built as
// ldconfig builds it — directories from /etc/ld.so.conf (includes
// followed) then the multiarch library directories, each scanned for
// lib*.so* and ld-*.so* ELF shared objects, one entry per soname, sorted
// by glibc's version-aware name order, strings tail-merged — and the
// missing soname symlinks made. The generator string is read from the
// root's own ldconfig binary, so the bytes match what it would write.
// ldconfig does not run code: it only reads ELF headers, which Go does
// for any architecture.

func init() {
	register(ldconfigCmd, "ldconfig", "ldconfig.real")
}

// ELF library flags of glibc's ldconfig.h.
const (
	flagELFLibc6        = 0x0003
	flagSparcLib64      = 0x0100
	flagX8664Lib64      = 0x0300
	flagS390Lib64       = 0x0400
	flagPowerPCLib64    = 0x0500
	flagMIPS64LibN32    = 0x0600
	flagMIPS64LibN64    = 0x0700
	flagX8664LibX32     = 0x0800
	flagARMLibHF        = 0x0900
	flagAArch64Lib64    = 0x0a00
	flagARMLibSF        = 0x0b00
	flagRISCVSoft       = 0x0f00
	flagRISCVDouble     = 0x1000
	flagLArchSoft       = 0x1100
	flagLArchDouble     = 0x1200
	flagMIPS64N32Nan    = 0x0d00
	flagMIPS64N64Nan    = 0x0e00
	flagMIPSLib32Nan    = 0x0c00
	efARMFloatHard      = 0x400
	efARMFloatSoft      = 0x200
	efMIPSNan2008       = 0x400
	efMIPSABI2          = 0x20
	efRISCVFloatABIMask = 0x6
	efLArchABIMask      = 0x7
)

// multiarchTriplet is the GNU triplet of a Debian architecture, naming
// the library directories.
var multiarchTriplet = map[string]string{
	"amd64": "x86_64-linux-gnu", "i386": "i386-linux-gnu", "x32": "x86_64-linux-gnux32",
	"arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf", "armel": "arm-linux-gnueabi",
	"ppc64el": "powerpc64le-linux-gnu", "ppc64": "powerpc64-linux-gnu", "powerpc": "powerpc-linux-gnu",
	"s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu", "mips64el": "mips64el-linux-gnuabi64",
	"mipsel": "mipsel-linux-gnu", "loong64": "loongarch64-linux-gnu", "sparc64": "sparc64-linux-gnu",
	"alpha": "alpha-linux-gnu", "hppa": "hppa-linux-gnu", "m68k": "m68k-linux-gnu", "sh4": "sh4-linux-gnu",
}

// elfFlags classifies a shared object as glibc's readelflib.c does for
// the architectures Debian and Ubuntu build; ok is false for a machine
// this ldconfig would not know.
func elfFlags(f *elf.File, eflags uint32) (int32, bool) {
	fl := int32(flagELFLibc6)
	c64 := f.Class == elf.ELFCLASS64
	switch f.Machine {
	case elf.EM_X86_64:
		if c64 {
			return fl | flagX8664Lib64, true
		}
		return fl | flagX8664LibX32, true
	case elf.EM_386, elf.EM_68K, elf.EM_ALPHA, elf.EM_PARISC, elf.EM_SH:
		return fl, true
	case elf.EM_AARCH64:
		return fl | flagAArch64Lib64, true
	case elf.EM_ARM:
		switch {
		case eflags&efARMFloatHard != 0:
			return fl | flagARMLibHF, true
		case eflags&efARMFloatSoft != 0:
			return fl | flagARMLibSF, true
		}
		return fl, true
	case elf.EM_S390:
		if c64 {
			return fl | flagS390Lib64, true
		}
		return fl, true
	case elf.EM_PPC64:
		return fl | flagPowerPCLib64, true
	case elf.EM_PPC:
		return fl, true
	case elf.EM_SPARCV9:
		return fl | flagSparcLib64, true
	case elf.EM_SPARC, elf.EM_SPARC32PLUS:
		return fl, true
	case elf.EM_RISCV:
		switch eflags & efRISCVFloatABIMask {
		case 0:
			return fl | flagRISCVSoft, true
		case 4:
			return fl | flagRISCVDouble, true
		}
		return 0, false
	case elf.EM_LOONGARCH:
		switch eflags & efLArchABIMask {
		case 1:
			return fl | flagLArchSoft, true
		case 3:
			return fl | flagLArchDouble, true
		}
		return 0, false
	case elf.EM_MIPS:
		nan := eflags&efMIPSNan2008 != 0
		switch {
		case c64 && nan:
			return fl | flagMIPS64N64Nan, true
		case c64:
			return fl | flagMIPS64LibN64, true
		case eflags&efMIPSABI2 != 0 && nan:
			return fl | flagMIPS64N32Nan, true
		case eflags&efMIPSABI2 != 0:
			return fl | flagMIPS64LibN32, true
		case nan:
			return fl | flagMIPSLib32Nan, true
		}
		return fl, true
	}
	return 0, false
}

// elfHeaderFlags reads e_flags, which debug/elf does not expose.
func elfHeaderFlags(data []byte, f *elf.File) uint32 {
	off := 36
	if f.Class == elf.ELFCLASS64 {
		off = 48
	}
	if len(data) < off+4 {
		return 0
	}
	return f.ByteOrder.Uint32(data[off:])
}

// isDSO is glibc's _dl_is_dso: lib*.so*, ld-*.so*, ld.so.*, ld64.so.*.
func isDSO(name string) bool {
	return ((strings.HasPrefix(name, "lib") || strings.HasPrefix(name, "ld-")) && strings.Contains(name, ".so")) ||
		strings.HasPrefix(name, "ld.so.") || strings.HasPrefix(name, "ld64.so.")
}

// libcmp is glibc's _dl_cache_libcmp: digits compare as numbers.
func libcmp(p1, p2 string) int {
	i, j := 0, 0
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i < len(p1) {
		switch {
		case isDigit(p1[i]):
			if j >= len(p2) || !isDigit(p2[j]) {
				return 1
			}
			v1, v2 := 0, 0
			for i < len(p1) && isDigit(p1[i]) {
				v1 = v1*10 + int(p1[i]-'0')
				i++
			}
			for j < len(p2) && isDigit(p2[j]) {
				v2 = v2*10 + int(p2[j]-'0')
				j++
			}
			if v1 != v2 {
				return v1 - v2
			}
		case j < len(p2) && isDigit(p2[j]):
			return -1
		case j >= len(p2):
			return int(p1[i])
		case p1[i] != p2[j]:
			return int(p1[i]) - int(p2[j])
		default:
			i++
			j++
		}
	}
	if j < len(p2) {
		return -int(p2[j])
	}
	return 0
}

type ldDir struct {
	path string // as configured, trailing slashes removed
	real string // resolved in the stage, for duplicate detection
}

type ldLib struct {
	name, soname string
	flag         int32
	isLink       bool
}

type cacheEntry struct {
	lib, path string
	flags     int32
}

// ldDirs lists the directories ldconfig scans: ld.so.conf, then the
// built-in ones, each once.
func (s *sys) ldDirs() []ldDir {
	var dirs []ldDir
	add := func(line string) {
		p := strings.TrimSpace(line)
		if eq := strings.IndexByte(p, '='); eq >= 0 {
			p = p[:eq] // a library type: only ELF libc6 exists now
		}
		p = strings.TrimRight(p, "/")
		if p == "" {
			return
		}
		real, e, ok, err := s.resolve("/", p, true)
		if err != nil || !ok || e.Type != tar.TypeDir {
			return
		}
		for _, d := range dirs {
			if d.real == real {
				return
			}
		}
		dirs = append(dirs, ldDir{path: p, real: real})
	}
	var parse func(file string, depth int)
	parse = func(file string, depth int) {
		data, err := s.readFile(file)
		if err != nil || depth > 20 {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimLeft(line, " \t\r\f\v")
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, "include") && len(line) > 7 && (line[7] == ' ' || line[7] == '\t') {
				for _, pat := range strings.Fields(line[8:]) {
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir(file), pat)
					}
					for _, m := range s.glob(pat) {
						parse(m, depth+1)
					}
				}
				continue
			}
			if strings.HasPrefix(strings.ToLower(line), "hwcap") && len(line) > 5 && (line[5] == ' ' || line[5] == '\t') {
				continue
			}
			add(line)
		}
	}
	parse("/etc/ld.so.conf", 0)
	// The built-in directories, after the configured ones: Debian's
	// ldconfig has the multiarch pair before /lib and /usr/lib, which it
	// scans too — there the dynamic loader's own link is (arm64's
	// /lib/ld-linux-aarch64.so.1, i386's /lib/ld-linux.so.2), an entry
	// of its own beside the one in the multiarch directory.
	if t := multiarchTriplet[s.opts.Arch]; t != "" {
		add("/lib/" + t)
		add("/usr/lib/" + t)
	}
	add("/lib")
	add("/usr/lib")
	return dirs
}

// glob expands a pattern whose last component may hold wildcards, in
// C collation order, as glob(3) sorts.
func (s *sys) glob(pat string) []string {
	dir, base := path.Split(pat)
	real, e, ok, err := s.resolve("/", dir, true)
	if err != nil || !ok || e.Type != tar.TypeDir {
		return nil
	}
	ents, err := s.list(real)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		b := path.Base(e.Path)
		if strings.HasPrefix(b, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		if m, _ := path.Match(base, b); m {
			out = append(out, path.Join(dir, b))
		}
	}
	sort.Strings(out)
	return out
}

// readELF returns the flags and soname of a shared object, ok false if
// ldconfig would skip the file.
func (s *sys) readELF(real string) (flag int32, soname string, ok bool) {
	// Only the headers and the dynamic section are read (a library can
	// be hundreds of MB: libLLVM).
	file, err := s.st.Open(real)
	if err != nil {
		return 0, "", false
	}
	defer file.Close()
	head := make([]byte, 64)
	n, _ := file.ReadAt(head, 0)
	head = head[:n]
	if len(head) < 4 || !bytes.Equal(head[:4], []byte(elf.ELFMAG)) {
		return 0, "", false
	}
	f, err := elf.NewFile(file)
	if err != nil || f.Type != elf.ET_DYN {
		return 0, "", false
	}
	flag, ok = elfFlags(f, elfHeaderFlags(head, f))
	if !ok {
		return 0, "", false
	}
	if names, err := f.DynString(elf.DT_SONAME); err == nil && len(names) > 0 {
		soname = names[0]
	}
	return flag, soname, true
}

// scanDir is ldconfig's search_dir for one directory: the libraries by
// soname, and the soname links to make.
func (s *sys) scanDir(d ldDir, makeLinks bool) ([]cacheEntry, error) {
	ents, err := s.list(d.real)
	if err != nil {
		return nil, nil
	}
	var libs []*ldLib
	for _, e := range ents {
		name := path.Base(e.Path)
		if !isDSO(name) {
			continue
		}
		if e.Type != tar.TypeReg && e.Type != tar.TypeLink && e.Type != tar.TypeSymlink {
			continue
		}
		if strings.HasSuffix(name, ".#prelink#") || strings.Contains(name, ".#prelink#.") {
			continue
		}
		isLink := e.Type == tar.TypeSymlink
		real := e.Path
		if isLink {
			r, te, ok, err := s.resolve("/", e.Path, true)
			if err != nil || !ok {
				// Stale symlinks of versioned names go.
				if makeLinks && strings.Contains(name, ".so.") {
					if err := s.st.Remove(e.Path); err != nil {
						return nil, &stageError{err}
					}
				}
				continue
			}
			if te.Type == tar.TypeDir {
				continue
			}
			real = r
		}
		flag, soname, ok := s.readELF(real)
		if !ok {
			continue
		}
		if soname == "" {
			soname = name // implicit_soname: the file name
		}
		if isLink {
			// A link counts as such only if its name is the soname, or
			// the .so link for ld(1), a prefix of it.
			if name != soname && !(strings.HasSuffix(name, ".so") && strings.HasPrefix(soname, name)) {
				isLink = false
			}
		}
		if isLink {
			soname = name
		}
		var found *ldLib
		for _, l := range libs {
			if l.soname == soname {
				found = l
				break
			}
		}
		if found == nil {
			libs = append([]*ldLib{{name: name, soname: soname, flag: flag, isLink: isLink}}, libs...)
			continue
		}
		if (!isLink && found.isLink) || (isLink == found.isLink && libcmp(found.name, name) < 0) {
			found.name, found.isLink = name, isLink
			if found.flag != flag {
				found.flag = flag
			}
		}
	}
	var out []cacheEntry
	for _, l := range libs {
		if !l.isLink && makeLinks {
			if err := s.sonameLink(d.real, l.name, l.soname); err != nil {
				return nil, err
			}
		}
		out = append(out, cacheEntry{lib: l.soname, path: d.path + "/" + l.soname, flags: l.flag})
	}
	return out, nil
}

// sonameLink is ldconfig's create_links: dir/soname → libname unless it
// already leads to the same file or is not a symlink.
func (s *sys) sonameLink(dir, libname, soname string) error {
	if libname == soname {
		return nil
	}
	full := dir + "/" + soname
	target, _, ok, err := s.resolve("/", full, true)
	lib, _, libOK, lerr := s.resolve("/", dir+"/"+libname, true)
	if lerr != nil || !libOK {
		return nil
	}
	if err == nil && ok {
		if target == lib {
			return nil
		}
		if e, ok := s.st.Lookup(full); ok && e.Type != tar.TypeSymlink {
			return nil // not a symbolic link: left alone
		}
	}
	if err := s.st.Symlink(libname, full, rootfs.Entry{Mode: 0o777}); err != nil {
		return &stageError{err}
	}
	return nil
}

// ldconfigGenerator finds the generator string in the root's ldconfig
// binary ("ldconfig (Debian GLIBC 2.36-9+deb12u14) stable release version
// 2.36").
func (s *sys) ldconfigGenerator() (string, error) {
	for _, p := range []string{"/sbin/ldconfig.real", "/usr/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"} {
		data, err := s.readFile(p)
		if err != nil || len(data) < 4 || !bytes.Equal(data[:4], []byte(elf.ELFMAG)) {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(data[off:], []byte("ldconfig ("))
			if i < 0 {
				break
			}
			start := off + i
			end := bytes.IndexByte(data[start:], 0)
			if end > 0 {
				str := string(data[start : start+end])
				if strings.Contains(str, " release version ") && !strings.ContainsAny(str, "%\n") {
					return str, nil
				}
			}
			off = start + 1
		}
	}
	return "", fmt.Errorf("no ldconfig binary with a version string in the root")
}

// buildLDCache serialises entries as save_cache does in the new format
// only (glibc 2.32 and later).
func buildLDCache(entries []cacheEntry, generator string, order binary.ByteOrder, bigEndian bool) []byte {
	// Sort as add_to_cache keeps its list: descending by libcmp of the
	// soname, then by flags descending; stable for ties.
	sort.SliceStable(entries, func(i, j int) bool {
		r := libcmp(entries[j].lib, entries[i].lib)
		if r != 0 {
			return r < 0
		}
		return entries[i].flags > entries[j].flags
	})
	// The string table, with tail merging.
	set := map[string]bool{}
	for _, e := range entries {
		set[e.path] = true
		set[e.lib] = true
	}
	strs := make([]string, 0, len(set))
	for s := range set {
		strs = append(strs, s)
	}
	sort.Slice(strs, func(i, j int) bool { return finalizeLess(strs[i], strs[j]) })
	offset := map[string]uint32{}
	if len(strs) > 0 {
		offset[strs[0]] = 0
	}
	for j := 1; j < len(strs); j++ {
		prev, cur := strs[j-1], strs[j]
		if len(prev) >= len(cur) && strings.HasSuffix(prev, cur) {
			offset[cur] = offset[prev] + uint32(len(prev)-len(cur))
		} else {
			offset[cur] = offset[prev] + uint32(len(prev)) + 1
		}
	}
	var strSize uint32
	if len(strs) > 0 {
		last := strs[len(strs)-1]
		strSize = offset[last] + uint32(len(last)) + 1
	}
	table := make([]byte, strSize)
	for _, s := range strs {
		if table[offset[s]] == 0 {
			copy(table[offset[s]:], s)
		}
	}

	const headerSize, entrySize = 48, 24
	strOffset := uint32(headerSize + entrySize*len(entries))
	extOffset := (strOffset + strSize + 3) &^ 3

	var b bytes.Buffer
	b.WriteString("glibc-ld.so.cache1.1")
	w32 := func(v uint32) { binary.Write(&b, order, v) }
	w32(uint32(len(entries)))
	w32(strSize)
	flags := byte(2) // cache_file_new_flags_endian_little
	if bigEndian {
		flags = 3
	}
	b.Write([]byte{flags, 0, 0, 0})
	w32(extOffset)
	b.Write(make([]byte, 12))
	for _, e := range entries {
		w32(uint32(e.flags))
		w32(strOffset + offset[e.lib])
		w32(strOffset + offset[e.path])
		w32(0) // osversion
		binary.Write(&b, order, uint64(0))
	}
	b.Write(table)
	for uint32(b.Len()) < extOffset {
		b.WriteByte(0)
	}
	// Extension directory: the generator section only.
	w32(0xeaa42174) // cache_extension_magic
	w32(1)
	genOffset := extOffset + 8 + 16
	w32(0) // tag: generator
	w32(0) // flags
	w32(genOffset)
	w32(uint32(len(generator)))
	b.WriteString(generator)
	return b.Bytes()
}

// finalizeLess is stringtable.c's finalize_compare: reversed strings in
// reverse lexicographic order, a string before its suffixes.
func finalizeLess(l, r string) bool {
	n := min(len(l), len(r))
	for i := 1; i <= n; i++ {
		lc, rc := l[len(l)-i], r[len(r)-i]
		if lc != rc {
			return int(rc)-int(lc) < 0
		}
	}
	return len(l) > len(r)
}

func ldconfigCmd(c *cmd) error {
	args := c.args[1:]
	makeLinks := true
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-r":
			if i+1 >= len(args) || strings.Trim(args[i+1], "/") != "" {
				return c.unsupported("-r with a root other than /")
			}
			i++
		case "-X":
			makeLinks = false
		case "-v", "--verbose", "-q":
		default:
			if strings.HasPrefix(a, "-r") && strings.Trim(a[2:], "/") == "" {
				continue
			}
			return c.unsupported("option %s", a)
		}
	}
	return c.s.ldconfig(makeLinks)
}

// ldconfig rebuilds /etc/ld.so.cache.
func (s *sys) ldconfig(makeLinks bool) error {
	gen, err := s.ldconfigGenerator()
	if err != nil {
		return &UnsupportedError{Command: "ldconfig", Reason: err.Error()}
	}
	var entries []cacheEntry
	for _, d := range s.ldDirs() {
		if ents, err := s.list(d.real); err == nil {
			for _, e := range ents {
				if path.Base(e.Path) == "glibc-hwcaps" {
					return &UnsupportedError{Command: "ldconfig", Reason: d.path + "/glibc-hwcaps: hwcaps subdirectories are not implemented"}
				}
			}
		}
		es, err := s.scanDir(d, makeLinks)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	order, big := binary.ByteOrder(binary.LittleEndian), false
	switch s.opts.Arch {
	case "s390x", "ppc64", "powerpc", "sparc64", "hppa", "m68k", "mips", "mips64":
		order, big = binary.BigEndian, true
	}
	data := buildLDCache(entries, gen, order, big)
	if err := s.st.WriteFile("/etc/ld.so.cache", data, rootfs.Entry{Mode: 0o644}); err != nil {
		return &stageError{err}
	}
	return nil
}
