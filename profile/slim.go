package profile

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/dpkg"
	"github.com/debstrap/debstrap/rootfs"
)

// slimExcludes and slimIncludes are debuerreotype-slimify's lists, sorted
// as it sorts them (sort -u, C locale).
var (
	slimExcludes = []string{
		"/usr/share/doc/*",
		"/usr/share/doc/kde/HTML/*/*",
		"/usr/share/gnome/help/*/*",
		"/usr/share/info/*",
		"/usr/share/linda/*",
		"/usr/share/lintian/overrides/*",
		"/usr/share/locale/*",
		"/usr/share/man/*",
		"/usr/share/omf/*/*-*.emf",
	}
	slimIncludes = []string{
		"/usr/share/doc/*/copyright",
		"/usr/share/doc/kde/HTML/C/*",
		"/usr/share/gnome/help/*/C/*",
		"/usr/share/locale/all_languages",
		"/usr/share/locale/currency/*",
		"/usr/share/locale/l10n/*",
		"/usr/share/locale/languages",
		"/usr/share/locale/locale.alias",
		"/usr/share/omf/*/*-C.emf",
	}
)

const slimHeader = `# This is the "slim" variant of the Debian base image.
# Many files which are normally unnecessary in containers are excluded,
# and this configuration file keeps them that way.
`

var manSection = regexp.MustCompile(`^man[0-9]$`)

// slimify does what debuerreotype-slimify does to a configured root:
// removes the files under each excluded directory but the included ones
// (copyright files, a few locale files), then what is left empty and the
// symlinks left dangling, and writes /etc/dpkg/dpkg.cfg.d/docker, which
// makes dpkg leave them out of every later install. Each exclude there
// is preceded by the packages "dpkg -S" names for it, as slimify writes
// them. The dpkg database still lists the removed files, as it does in
// debian:SUITE-slim.
func slimify(st *rootfs.Stage) error {
	// The man sections there were are made again, empty (man-db's
	// postinst and others expect them), 0775: debuerreotype's umask is
	// 0002.
	var sections []string
	if kids, err := st.List("/usr/share/man"); err == nil {
		for _, k := range kids {
			if !manSection.MatchString(path.Base(k.Path)) {
				continue
			}
			if e, err := st.Stat(k.Path); err == nil && e.Type == '5' {
				sections = append(sections, k.Path)
			}
		}
	}
	db, err := readFilesDB(st)
	if err != nil {
		return err
	}
	var cfg strings.Builder
	cfg.WriteString(slimHeader)
	for _, ex := range slimExcludes {
		fmt.Fprintf(&cfg, "\n# dpkg -S '%s'\n", ex)
		for _, line := range fold(db.search(ex), 76) {
			cfg.WriteString("#  " + line + "\n")
		}
		fmt.Fprintf(&cfg, "path-exclude %s\n", ex)
		if err := slimRemove(st, ex); err != nil {
			return fmt.Errorf("profile docker-slim: %s: %w", ex, err)
		}
	}
	cfg.WriteString("\n")
	for _, in := range slimIncludes {
		fmt.Fprintf(&cfg, "path-include %s\n", in)
	}
	if err := st.MkdirAll("/etc/dpkg/dpkg.cfg.d", rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	if err := st.WriteFile("/etc/dpkg/dpkg.cfg.d/docker", []byte(cfg.String()), rootfs.Entry{Mode: 0o644}); err != nil {
		return err
	}
	for _, s := range sections {
		if err := st.MkdirAll(s, rootfs.Entry{Mode: 0o775}); err != nil {
			return err
		}
	}
	return nil
}

// slimRemove removes what one exclude names. For "DIR/*": every file
// under DIR that is neither a directory nor a symlink nor included, then,
// until nothing changes, the empty files and directories and the
// dangling symlinks under DIR. Another pattern is taken as one path, as
// slimify's "rm -f" takes it.
func slimRemove(st *rootfs.Stage, ex string) error {
	dir, ok := strings.CutSuffix(ex, "/*")
	if !ok {
		if e, ok := st.Lookup(ex); ok && e.Type != '5' {
			return st.Remove(ex)
		}
		return nil
	}
	if e, err := st.Stat(dir); err != nil || e.Type != '5' {
		return nil
	}
	var files []string
	err := walk(st, dir, func(e rootfs.Entry) {
		if e.Type == '5' || e.Type == '2' {
			return
		}
		if slices.ContainsFunc(slimIncludes, func(in string) bool { return dpkg.Match(in, e.Path) }) {
			return
		}
		files = append(files, e.Path)
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := st.Remove(f); err != nil {
			return err
		}
	}
	for {
		var gone []string
		err := walk(st, dir, func(e rootfs.Entry) {
			switch e.Type {
			case '5':
				if kids, err := st.List(e.Path); err == nil && len(kids) == 0 {
					gone = append(gone, e.Path)
				}
			case '0', '7':
				if e.Size == 0 {
					gone = append(gone, e.Path)
				}
			case '1': // a hard link's size is its group's file's
				if f, ok := st.Lookup(e.Linkname); ok && f.Size == 0 {
					gone = append(gone, e.Path)
				}
			case '2':
				if _, err := st.Stat(e.Path); err != nil {
					gone = append(gone, e.Path)
				}
			}
		})
		if err != nil {
			return err
		}
		if len(gone) == 0 {
			return nil
		}
		for _, g := range gone {
			if err := st.RemoveAll(g); err != nil {
				return err
			}
		}
	}
}

// walk calls fn for everything below dir (not dir itself), children
// before their directory, not following symlinks.
func walk(st *rootfs.Stage, dir string, fn func(rootfs.Entry)) error {
	kids, err := st.List(dir)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if k.Type == '5' {
			if err := walk(st, k.Path, fn); err != nil {
				return err
			}
		}
		fn(k)
	}
	return nil
}

// filesDB is what "dpkg -S" searches: each installed package's file
// list, under the name dpkg-query prints for it, and the diversions.
type filesDB struct {
	owners     map[string][]string // path → packages
	diversions []dpkg.Diversion
}

// readFilesDB reads the dpkg database of the root: status for the
// packages, info/*.list for their files, diversions.
func readFilesDB(st *rootfs.Stage) (*filesDB, error) {
	status, err := st.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	arch := ""
	if data, err := st.ReadFile("/var/lib/dpkg/arch"); err == nil {
		arch, _, _ = strings.Cut(string(data), "\n")
	}
	db := &filesDB{owners: map[string][]string{}}
	stanzas, err := dpkg.ParseStatus(bytes.NewReader(status))
	if err != nil {
		return nil, fmt.Errorf("profile: /var/lib/dpkg/status: %w", err)
	}
	for _, s := range stanzas {
		status := s.Get("Status")
		if s.Get("Package") == "" || !strings.HasSuffix(status, " installed") && !strings.HasSuffix(status, " unpacked") {
			continue
		}
		name, a := s.Get("Package"), s.Get("Architecture")
		list := name + ".list"
		show := name
		if s.Get("Multi-Arch") == "same" {
			list = name + ":" + a + ".list"
			show = name + ":" + a
		} else if a != "all" && arch != "" && a != arch {
			show = name + ":" + a
		}
		data, err := st.ReadFile("/var/lib/dpkg/info/" + list)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if p := sc.Text(); p != "" {
				db.owners[p] = append(db.owners[p], show)
			}
		}
	}
	if data, err := st.ReadFile("/var/lib/dpkg/diversions"); err == nil {
		divs, err := dpkg.ParseDiversions(data)
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		db.diversions = divs
	}
	return db, nil
}

// search is what slimify makes of "dpkg -S PATTERN 2>&1": each matching
// path's owners and each diversion touching a match ("diversion by P
// from", "… to"), sorted, unique, joined by spaces (its sed, sort -u and
// xargs); dpkg-query's message when nothing matches.
func (db *filesDB) search(pattern string) string {
	seen := map[string]bool{}
	found := false
	for p, owners := range db.owners {
		if dpkg.Match(pattern, p) {
			found = true
			for _, o := range owners {
				seen[o] = true
			}
		}
	}
	for _, d := range db.diversions {
		if !dpkg.Match(pattern, d.Path) && !dpkg.Match(pattern, d.Divert) {
			continue
		}
		found = true
		if d.Package == "" {
			seen["local diversion from"], seen["local diversion to"] = true, true
		} else {
			seen["diversion by "+d.Package+" from"], seen["diversion by "+d.Package+" to"] = true, true
		}
	}
	if !found {
		return "dpkg-query: no path found matching pattern " + pattern
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// fold breaks s as "fold -w width -s" does: a line longer than width is
// broken after its last blank within the width (the blank stays at the
// end of the line), or at the width when it has none.
func fold(s string, width int) []string {
	var out []string
	for len(s) > width {
		i := strings.LastIndexByte(s[:width], ' ')
		if i < 0 {
			i = width - 1
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return append(out, s)
}
