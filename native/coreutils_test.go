package native

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"
)

func TestFileCommands(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/usr/share/zoneinfo/Etc/UTC":  "TZif",
		"/usr/share/base-files/motd":   "hello\n",
		"/usr/share/base-files/dot.rc": "rc\n",
		"/etc/passwd":                  "root:x:0:0:root:/root:/bin/bash\n",
		"/etc/group":                   "root:x:0:\n",
	})
	mustSh(t, s, `set -e
ln -nsf /usr/share/zoneinfo/Etc/UTC /etc/localtime.dpkg-new && mv -f /etc/localtime.dpkg-new /etc/localtime
cp -p /usr/share/base-files/motd /etc/motd
mkdir -p -m 2775 /var/mail
chown root:root /etc/motd
mkdir /etc/opt
chmod 1777 /etc/opt
touch /var/log/wtmp
chmod 664 /var/log/wtmp
ln -s ../mail /var/spool/mail 2>/dev/null || { mkdir -p /var/spool; ln -s ../mail /var/spool/mail; }
cp /usr/share/base-files/dot.rc /root/.rc
rm -f /etc/nothing-here
rmdir --ignore-fail-on-non-empty /var
ln -sr /usr/share/zoneinfo/Etc/UTC /etc/utc-rel
ln -s ../locale.conf /etc/legacy
ln -sfr /etc/locale.conf /etc/legacy
echo "$(basename /a/b/c.txt .txt) $(dirname /a/b/c.txt) $(readlink /etc/localtime)" > /etc/names
`)
	for p, want := range map[string]string{
		"/etc/localtime":  "-> /usr/share/zoneinfo/Etc/UTC",
		"/etc/motd":       "0644",
		"/var/mail":       "dir 2775",
		"/etc/opt":        "dir 1777",
		"/var/log/wtmp":   "0664",
		"/var/spool/mail": "-> ../mail",
		"/etc/utc-rel":    "-> ../usr/share/zoneinfo/Etc/UTC",
		"/etc/legacy":     "-> locale.conf", // replaced, not followed
	} {
		e := entry(t, st, p)
		var got string
		switch {
		case e.Linkname != "":
			got = "-> " + e.Linkname
		case e.Type == tar.TypeDir:
			got = "dir " + octal(e.Mode)
		default:
			got = octal(e.Mode)
		}
		if got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if got := get(t, st, "/etc/names"); got != "c /a/b /usr/share/zoneinfo/Etc/UTC\n" {
		t.Errorf("names %q", got)
	}
}

func octal(m int64) string {
	s := ""
	for i := 0; i < 4; i++ {
		s = string(rune('0'+m&7)) + s
		m >>= 3
	}
	return s
}

func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		spec string
		old  int64
		dir  bool
		want int64
	}{
		{"644", 0o755, false, 0o644},
		{"u+x", 0o644, false, 0o744},
		{"go-w", 0o666, false, 0o644},
		{"a=r", 0o777, false, 0o444},
		{"+x", 0o644, false, 0o755}, // umask 022 masks nothing here
		{"a+X", 0o644, true, 0o755},
		{"a+X", 0o644, false, 0o644},
		{"755", 0o2755, true, 0o2755}, // a directory keeps setgid
		{"00755", 0o2755, true, 0o755},
		{"u+s", 0o755, false, 0o4755},
	} {
		got, err := parseMode(c.spec, c.old, c.dir, 0o022)
		if err != nil || got != c.want {
			t.Errorf("parseMode(%q, %o) = %o, %v; want %o", c.spec, c.old, got, err, c.want)
		}
	}
}

func TestTextTools(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{"/etc/shells": "# comment\n/bin/sh\n/bin/bash\n\n/usr/bin/zsh\n",
		"/usr/bin/update-locale": "x:#! /usr/bin/perl -w\nmy $locale_file  = \"/etc/locale.conf\";\n"})
	for _, c := range []struct{ script, want string }{
		{`sed -n -e '/^$/d' -e 's/^\/bin\///p' /etc/shells`, "sh\nbash\n"},
		{`sed -e '/^#/d;/^$/d' -e 's|^/usr|U|' /etc/shells`, "/bin/sh\n/bin/bash\nU/bin/zsh\n"},
		{`echo 'a b  c' | sed 's/ \{2,\}/_/g'`, "a b_c\n"},
		{`echo 'KEY="v"' | sed -e 's/^\(KEY=\)"\(.*\)"$/\1\2/'`, "KEY=v\n"},
		{`grep -c bin /etc/shells`, "3\n"},
		{`grep -q '^/bin/sh$' /etc/shells && echo yes`, "yes\n"},
		{`grep -E '^/(usr/)?bin/z' /etc/shells`, "/usr/bin/zsh\n"},
		{`grep -v '^#' /etc/shells | sort -r | head -n 1`, "/usr/bin/zsh\n"},
		{`echo 'a:b:c' | cut -d: -f2-`, "b:c\n"},
		{`echo 'Hello' | tr '[:upper:]' '[:lower:]'`, "hello\n"},
		{`printf 'b\na\nb\n' | sort -u`, "a\nb\n"},
		{`printf 'x\nx\ny\n' | uniq -c`, "      2 x\n      1 y\n"},
		{`wc -l < /etc/shells`, "5\n"},
		{`echo hi | md5sum`, "764efa883dda1e11db47671c4a3bbd9e  -\n"},
		{`date +%Y-%m-%d`, "2024-01-01\n"},
		{`date -d "$(date)" +%s`, "1704067200\n"},
		{`seq 3 -1 1 | tr '\n' ' '`, "3 2 1 "},
		// awk: operands read through the stage, -v and -F, ENVIRON.
		{`echo "abc  def" | awk '{print $1;}'`, "abc\n"},
		{`awk -F/ '$2 == "bin" {n++} END {print n}' /etc/shells`, "2\n"},
		{`printf 'LANG="C.UTF-8"\n' | awk '/^LANG=/ {gsub("\"", ""); sub("LANG=", ""); lang=$0;} END {print lang}'`, "C.UTF-8\n"},
		{`X=1 awk -v y=2 'BEGIN {print ENVIRON["DPKG_MAINTSCRIPT_PACKAGE"], y}'`, "test 2\n"},
		// expr: arithmetic, comparison, BRE match.
		{`expr 3 + 4 \* 2`, "11\n"},
		{`expr abcdef : 'ab\(c.\)'`, "cd\n"},
		{`expr ', ,' : '.*, None,.*' || echo "no $?"`, "0\nno 1\n"},
		{`expr 1.5 \< 2`, "1\n"},
		{`stty -a 2>/dev/null || echo "no tty"`, "no tty\n"},
		{`printf '# a\nb\n#\n\nc\n#\n' | sed -e "0,/^[# ]* *$/ s/^[# ]* *$//"`, "# a\nb\n\n\nc\n#\n"},
		// update-locale: the default file from the script, LANG removed then set.
		{`update-locale --no-checks LANG && cat /etc/locale.conf && update-locale LANG=C.UTF-8 && cat /etc/locale.conf`,
			"#  File generated by update-locale\n#  File generated by update-locale\nLANG=C.UTF-8\n"},
	} {
		out, err := sh(t, s, c.script)
		if err != nil || out != c.want {
			t.Errorf("%s\n got %q, %v\nwant %q", c.script, out, err, c.want)
		}
	}
	// awk may not run commands: the script stops, unsupported.
	var u *UnsupportedError
	if _, err := sh(t, s, `awk 'BEGIN {system("true")}' || true`); !errors.As(err, &u) {
		t.Errorf("awk system(): %v", err)
	}
}

func TestCompileRE(t *testing.T) {
	for _, c := range []struct {
		pat       string
		ere       bool
		in, match string
	}{
		{`a\{2\}`, false, "xaay", "aa"},
		{`\(ab\)*c`, false, "ababc", "ababc"},
		{`^*x`, false, "*x", "*x"},
		{`a+b`, false, "a+b", "a+b"},
		{`a+b`, true, "aab", "aab"},
		{`[[:space:]]\+`, false, "a \t b", " \t "},
		{`[\.]`, false, `a\b`, `\`},
		{`x$y`, false, "x$y", "x$y"},
		{`\<the\>`, false, "in the end", "the"},
	} {
		re, err := compileRE(c.pat, c.ere, false)
		if err != nil {
			t.Errorf("%q: %v", c.pat, err)
			continue
		}
		if got := re.FindString(c.in); got != c.match {
			t.Errorf("%q on %q: %q, want %q", c.pat, c.in, got, c.match)
		}
	}
}

func TestFindAndGetopt(t *testing.T) {
	st := newStage(t)
	s := testSys(t, st)
	put(t, st, map[string]string{
		"/usr/share/ca/b.crt":   "b",
		"/usr/share/ca/a.crt":   "a",
		"/usr/share/ca/x/c.crt": "c",
		"/usr/share/ca/readme":  "r",
		"/etc/ssl/dangling.pem": "-> /nowhere",
		"/etc/ssl/ok.pem":       "-> /usr/share/ca/a.crt",
	})
	out := mustSh(t, s, `find /usr/share/ca -type f -name '*.crt' | sort; find /etc/ssl -type l ! -exec test -e {} \; -print`)
	if want := "/usr/share/ca/a.crt\n/usr/share/ca/b.crt\n/usr/share/ca/x/c.crt\n/etc/ssl/dangling.pem\n"; out != want {
		t.Errorf("find:\n%s\nwant\n%s", out, want)
	}
	out = mustSh(t, s, `getopt -a -o hs:d:: -n ucf --long help,src-dir:,debug::,three-way -- --three-way -s /src -d a1 b2`)
	if want := " --three-way -s '/src' -d '' -- 'a1' 'b2'\n"; out != want {
		t.Errorf("getopt %q, want %q", out, want)
	}
}

func TestReadSplit(t *testing.T) {
	for _, c := range []struct {
		line, ifs string
		n         int
		want      []string
	}{
		{"# comment here", "#", 2, []string{"", " comment here"}},
		{"/bin/sh # sh", "#", 2, []string{"/bin/sh ", " sh"}},
		{"  a  b  c  ", " \t\n", 2, []string{"a", "b  c"}},
		{"a:b:c", ":", 3, []string{"a", "b", "c"}},
		{"a", ":", 3, []string{"a", "", ""}},
	} {
		got := readSplit(c.line, c.ifs, c.n)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("readSplit(%q, %q, %d) = %q, want %q", c.line, c.ifs, c.n, got, c.want)
		}
	}
}
