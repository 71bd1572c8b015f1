package native

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// helpztags (vim-runtime's Perl program, which vim-runtime's postinst
// runs): a tags file for the Vim help files of each directory.

func init() {
	register(helpztagsCmd, "helpztags")
}

// helpFileRE is the file names helpztags reads: NAME.txt, or NAME.XXx
// for a translation (tags-XX), maybe gzipped.
var helpFileRE = regexp.MustCompile(`^[\w.-]+\.(?:txt|([[:alpha:]]{2})x)(?:\.gz)?$`)

func helpztagsCmd(c *cmd) error {
	if len(c.args) < 2 {
		return c.failf("Error: no directories given. Check manpage for details.")
	}
	// As the Perl program: one table for all directories, each tags file
	// written into every directory processed after its tags were found.
	tags := map[string]map[string]string{}
	for _, dir := range c.args[1:] {
		abs := c.abs(dir)
		real, e, ok, err := c.s.resolve("/", abs, true)
		if err != nil || !ok || e.Type != tar.TypeDir {
			continue // chdir $dir or next
		}
		fmt.Fprintf(c.stdout, "Processing %s\n", dir)
		ents, err := c.s.list(real)
		if err != nil {
			return &stageError{err}
		}
		// <*.{gz,txt,??x}>: each pattern's matches sorted, in that order.
		var files []string
		for _, pat := range []string{"*.gz", "*.txt", "*??x"} {
			var m []string
			for _, k := range ents {
				n := path.Base(k.Path)
				if ok, _ := path.Match(pat, n); ok && !strings.HasPrefix(n, ".") {
					m = append(m, n)
				}
			}
			sort.Strings(m)
			files = append(files, m...)
		}
		for _, f := range files {
			sub := helpFileRE.FindStringSubmatch(f)
			if sub == nil {
				continue
			}
			table := "tags"
			if sub[1] != "" {
				table += "-" + sub[1]
			}
			data, err := c.s.readFile(real + "/" + f)
			if err != nil {
				continue
			}
			if strings.HasSuffix(f, ".gz") {
				zr, err := gzip.NewReader(bytes.NewReader(data))
				if err != nil {
					continue
				}
				data, err = io.ReadAll(io.LimitReader(zr, 256<<20))
				if err != nil {
					continue
				}
			}
			for _, line := range strings.SplitAfter(string(data), "\n") {
				for _, t := range helpTags(line) {
					if tags[table] == nil {
						tags[table] = map[string]string{}
					}
					tags[table][t] = f
				}
			}
		}
		for _, table := range sortedKeys(tags) {
			if len(tags[table]) == 0 {
				continue
			}
			var b strings.Builder
			for _, t := range sortedKeys(tags[table]) {
				fmt.Fprintf(&b, "%s\t%s\t/*%s*\n", t, tags[table][t], strings.ReplaceAll(t, `\`, `\\`))
			}
			if err := c.s.writeFile(real+"/"+table, []byte(b.String()), rootfs.Entry{Mode: 0o666 &^ c.run.umask}); err != nil {
				return err
			}
		}
	}
	return nil
}

// helpTags finds the *tag*s of one line as helpztags's pattern
// (?:(?<=^)|(?<=\s))\*([^*\s|]+?)\*(?:(?=\s)|(?=$)) does: a tag starts
// the line or follows white space, and ends the line or is followed by
// white space; it has no *, | or white space.
func helpTags(line string) []string {
	isSpace := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v' }
	var out []string
	for i := 0; i < len(line); i++ {
		if line[i] != '*' || (i > 0 && !isSpace(line[i-1])) {
			continue
		}
		j := i + 1
		for j < len(line) && line[j] != '*' && line[j] != '|' && !isSpace(line[j]) {
			j++
		}
		// $ also matches before a final newline.
		if j == i+1 || j >= len(line) || line[j] != '*' {
			continue
		}
		if k := j + 1; k == len(line) || isSpace(line[k]) {
			out = append(out, line[i+1:j])
			i = j // the next match starts after this one
		}
	}
	return out
}
