package native

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// debconf with the noninteractive frontend, as mmdebstrap runs it
// (DEBIAN_FRONTEND=noninteractive, DEBCONF_NONINTERACTIVE_SEEN=true). A
// script that sources /usr/share/debconf/confmodule gets a shell library
// whose db_* functions talk to this Go frontend instead of starting
// debconf's Perl one. Starting a session does what debconf's frontend
// does: load the package's templates (creating its questions), run its
// config script, and at the end mark seen the questions that would have
// been shown. The database is written as debconf's File driver writes
// config.dat, templates.dat and passwords.dat.

const confmodulePath = "/usr/share/debconf/confmodule"

const (
	dcConfig    = "/var/cache/debconf/config.dat"
	dcTemplates = "/var/cache/debconf/templates.dat"
	dcPasswords = "/var/cache/debconf/passwords.dat"
)

const confmoduleShim = `# debstrap native mode: debconf's confmodule, talking to the Go frontend.
if [ -z "${DEBIAN_HAS_FRONTEND:-}" ]; then
	__native_debconf_start "$0" "$@" || exit $?
	DEBIAN_HAS_FRONTEND=1
	export DEBIAN_HAS_FRONTEND
fi
# As debconf's own: the words joined by spaces whatever IFS is, and IFS
# saved and restored through a variable, so that an unset IFS comes back
# set and empty (no field splitting after it: ucf's rotations rely on it).
_db_cmd () {
	local _db_internal_IFS="$IFS"
	IFS=' '
	_db_internal_line="$(__native_debconf "$*")"
	IFS="$_db_internal_IFS"
	RET="${_db_internal_line#[! 	][ 	]}"
	local _db_status="${_db_internal_line%%[ 	]*}"
	case "$_db_status" in
		1) return 0 ;;
	esac
	return $_db_status
}
db_capb ()	{ _db_cmd "CAPB $@"; }
db_set ()	{ _db_cmd "SET $@"; }
db_reset ()	{ _db_cmd "RESET $@"; }
db_title ()	{ _db_cmd "TITLE $@"; }
db_input ()	{ _db_cmd "INPUT $@"; }
db_beginblock () { _db_cmd "BEGINBLOCK $@"; }
db_endblock () 	{ _db_cmd "ENDBLOCK $@"; }
db_go ()	{ _db_cmd "GO $@"; }
db_get ()	{ _db_cmd "GET $@"; }
db_register ()	{ _db_cmd "REGISTER $@"; }
db_unregister () { _db_cmd "UNREGISTER $@"; }
db_subst ()	{ _db_cmd "SUBST $@"; }
db_fset ()	{ _db_cmd "FSET $@"; }
db_fget ()	{ _db_cmd "FGET $@"; }
db_purge ()	{ _db_cmd "PURGE $@"; }
db_metaget ()	{ _db_cmd "METAGET $@"; }
db_version ()	{ _db_cmd "VERSION $@"; }
db_clear ()	{ _db_cmd "CLEAR $@"; }
db_settitle ()	{ _db_cmd "SETTITLE $@"; }
db_previous_module () { _db_cmd "PREVIOUS_MODULE $@"; }
db_info ()	{ _db_cmd "INFO $@"; }
db_progress ()	{ _db_cmd "PROGRESS $@"; }
db_data ()	{ _db_cmd "DATA $@"; }
db_x_loadtemplatefile ()	{ _db_cmd "X_LOADTEMPLATEFILE $@"; }
db_stop () { _db_cmd "STOP $@"; }
db_text () { db_input $@; }
`

// dcItem is one record of a debconf database file.
type dcItem struct {
	fields    map[string]string // lower-case names; config: template, value
	owners    map[string]bool
	flags     map[string]string
	variables map[string]string
}

func newItem() *dcItem {
	return &dcItem{fields: map[string]string{}, owners: map[string]bool{}, flags: map[string]string{}, variables: map[string]string{}}
}

type debconfDB struct {
	s                            *sys
	config, templates, passwords map[string]*dcItem
	used                         bool // a session ran: the files are written
}

// dcSession is one confmodule: the owner its questions get, the
// questions it would have shown (marked seen at its end), and the
// elements waiting for GO.
type dcSession struct {
	owner   string
	seen    []string
	pending []dcElement
	capb    []string
}

type dcElement struct {
	question string
	markSeen bool
}

func loadDebconf(s *sys) (*debconfDB, error) {
	db := &debconfDB{}
	var err error
	if db.config, err = s.readDebconfFile(dcConfig); err != nil {
		return nil, err
	}
	if db.templates, err = s.readDebconfFile(dcTemplates); err != nil {
		return nil, err
	}
	if db.passwords, err = s.readDebconfFile(dcPasswords); err != nil {
		return nil, err
	}
	db.s = s
	return db, nil
}

// readDebconfFile parses debconf's 822 format; a missing file is empty.
func (s *sys) readDebconfFile(p string) (map[string]*dcItem, error) {
	data, err := s.readFile(p)
	if err != nil {
		if isNotExist(err) {
			return map[string]*dcItem{}, nil
		}
		return nil, err
	}
	return s.parseDebconf(data)
}

func (s *sys) parseDebconf(data []byte) (map[string]*dcItem, error) {
	out := map[string]*dcItem{}
	for _, rec := range strings.Split(string(data), "\n\n") {
		it := newItem()
		name := ""
		inVars := false
		for _, line := range strings.Split(rec, "\n") {
			if line == "" {
				continue
			}
			if inVars && (line[0] == ' ' || line[0] == '\t') {
				l := strings.TrimLeft(line, " \t")
				k, v, _ := strings.Cut(l, "=")
				it.variables[strings.TrimSpace(k)] = strings.ReplaceAll(strings.TrimPrefix(v, " "), `\n`, "\n")
				continue
			}
			inVars = false
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k = strings.ToLower(k); k {
			case "name":
				name = v
			case "owners":
				for _, o := range strings.Split(v, ", ") {
					if o != "" {
						it.owners[o] = true
					}
				}
			case "flags":
				for _, f := range strings.Split(v, ", ") {
					if f != "" {
						it.flags[f] = "true"
					}
				}
			case "variables":
				inVars = true
			default:
				it.fields[k] = strings.ReplaceAll(v, `\n`, "\n")
			}
		}
		if name != "" {
			out[name] = it
		}
	}
	return out, nil
}

// formatDebconf writes items as Debconf::Format::822 does.
func formatDebconf(items map[string]*dcItem) []byte {
	var b strings.Builder
	for _, name := range sortedKeys(items) {
		it := items[name]
		b.WriteString("Name: " + name + "\n")
		for _, f := range sortedKeys(it.fields) {
			b.WriteString(strings.ToUpper(f[:1]) + f[1:] + ": " + strings.ReplaceAll(it.fields[f], "\n", `\n`) + "\n")
		}
		if len(it.owners) > 0 {
			b.WriteString("Owners: " + strings.Join(sortedKeys(it.owners), ", ") + "\n")
		}
		var flags []string
		for _, f := range sortedKeys(it.flags) {
			if it.flags[f] == "true" {
				flags = append(flags, f)
			}
		}
		if len(flags) > 0 {
			b.WriteString("Flags: " + strings.Join(flags, ", ") + "\n")
		}
		if len(it.variables) > 0 {
			b.WriteString("Variables:\n")
			for _, v := range sortedKeys(it.variables) {
				b.WriteString(" " + v + " = " + strings.ReplaceAll(it.variables[v], "\n", `\n`) + "\n")
			}
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func (d *debconfDB) save() error {
	if !d.used {
		return nil
	}
	s := d.s
	if err := s.st.MkdirAll("/var/cache/debconf", rootfs.Entry{Mode: 0o755}); err != nil {
		return err
	}
	for _, f := range []struct {
		path  string
		items map[string]*dcItem
		mode  int64
	}{{dcConfig, d.config, 0o644}, {dcPasswords, d.passwords, 0o600}, {dcTemplates, d.templates, 0o644}} {
		if err := s.st.WriteFile(f.path, formatDebconf(f.items), rootfs.Entry{Mode: f.mode}); err != nil {
			return err
		}
	}
	return nil
}

// Questions and templates.

func (d *debconfDB) question(name string) *dcItem { return d.config[name] }

// template of question q.
func (d *debconfDB) templateOf(q *dcItem) *dcItem {
	if q == nil {
		return nil
	}
	return d.templates[q.fields["template"]]
}

// value of a question: its own, else its template's default.
func (d *debconfDB) value(name string) (string, bool) {
	q := d.config[name]
	if q == nil {
		return "", false
	}
	if v, ok := q.fields["value"]; ok {
		return v, true
	}
	if t := d.templateOf(q); t != nil {
		return tmplField(t, "default", true), true
	}
	return "", false
}

// tmplField is a field of a template as Debconf::Template's
// accessors give it in the C locale: with i18n the field-en variant
// first, without it (the untranslated values a select's element
// compares with) field-c first; then the field itself; a missing
// field-x falls back to field; anything else missing is empty.
func tmplField(t *dcItem, field string, i18n bool) string {
	if i18n {
		if v, ok := t.fields[field+"-en"]; ok {
			return v
		}
	} else if !strings.HasSuffix(field, "-c") {
		if v, ok := t.fields[field+"-c"]; ok {
			return v
		}
	}
	if v, ok := t.fields[field]; ok {
		return v
	}
	if plain, _, ok := strings.Cut(field, "-"); ok {
		return t.fields[plain]
	}
	return ""
}

// metaget is Question->$field as METAGET calls it: the question's own
// field, else its template's (every field exists there, empty when
// absent); descriptions and choices have the question's variables
// substituted. Without a template a field does not exist.
func (d *debconfDB) metaget(q *dcItem, field string) (string, bool) {
	expand := func(v string) string { return expandVars(v, q.variables) }
	switch field {
	case "value":
		v, ok := q.fields["value"]
		if !ok {
			if t := d.templateOf(q); t != nil {
				return tmplField(t, "default", true), true
			}
		}
		return v, ok
	case "owners":
		return strings.Join(sortedKeys(q.owners), ", "), true
	case "description", "extended_description", "choices":
		t := d.templateOf(q)
		if t == nil {
			return "", true
		}
		return expand(tmplField(t, field, true)), true
	}
	v, ok := q.fields[field]
	if !ok {
		t := d.templateOf(q)
		if t == nil {
			return "", false
		}
		v = tmplField(t, field, true)
	}
	if regexp.MustCompile(`^(description|extended_description|choices)-`).MatchString(field) {
		v = expand(v)
	}
	return v, true
}

// newQuestion is Question->new plus template(): an owned question
// using template tmpl.
func (d *debconfDB) addQuestion(name, owner, tmpl string) {
	q := d.config[name]
	if q == nil {
		q = newItem()
		d.config[name] = q
	}
	q.owners[owner] = true
	q.fields["template"] = tmpl
	if t := d.templates[tmpl]; t != nil {
		t.owners[name] = true
	}
}

// loadTemplates is Debconf::Template->load of a templates file with
// owner: each template replaces the stored one and gets a question of
// its name owned by owner.
func (d *debconfDB) loadTemplates(data []byte, owner string) error {
	for _, stanza := range splitTemplates(string(data)) {
		fields, err := parseTemplate(stanza)
		if err != nil {
			return err
		}
		name := fields["template"]
		if name == "" {
			return fmt.Errorf("template without a Template field")
		}
		t := d.templates[name]
		if t == nil {
			t = newItem()
			d.templates[name] = t
		}
		t.owners[name] = true
		t.fields = map[string]string{}
		for k, v := range fields {
			if k != "template" {
				t.fields[k] = v
			}
		}
		d.addQuestion(name, owner, name)
	}
	d.used = true
	return nil
}

func splitTemplates(s string) []string {
	var out []string
	for _, st := range regexp.MustCompile(`\n\n+`).Split(strings.Trim(s, "\n"), -1) {
		if strings.TrimSpace(st) != "" {
			out = append(out, st)
		}
	}
	return out
}

var templateField = regexp.MustCompile(`^([-_@.A-Za-z0-9]*):\s?(.*)`)

// parseTemplate reads one template stanza as Debconf::Template->load:
// continuation lines become the extended_ variant of a field, " ." a
// paragraph break, lines indented further kept verbatim.
func parseTemplate(st string) (map[string]string, error) {
	data := map[string]string{}
	field, value, ext := "", "", ""
	save := func() error {
		ext = strings.TrimRight(ext, "\n")
		if field != "" {
			if _, dup := data[field]; dup {
				return fmt.Errorf("template has a duplicate field %q", field)
			}
			data[field] = value
			if ext != "" {
				data["extended_"+field] = ext
			}
		}
		return nil
	}
	for _, line := range strings.Split(st, "\n") {
		if m := templateField.FindStringSubmatch(line); m != nil {
			if err := save(); err != nil {
				return nil, err
			}
			field = strings.ToLower(m[1])
			value = strings.TrimRight(m[2], " \t")
			ext = ""
			continue
		}
		switch {
		case line == " .":
			ext += "\n\n"
		case len(line) > 1 && line[0] == ' ' && (line[1] == ' ' || line[1] == '\t'):
			bit := strings.TrimRight(line[1:], " \t")
			if ext != "" && !strings.HasSuffix(ext, "\n") && !strings.HasSuffix(ext, " ") {
				ext += "\n"
			}
			ext += bit + "\n"
		case len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
			bit := strings.TrimRight(line[1:], " \t")
			if ext != "" && !strings.HasSuffix(ext, "\n") && !strings.HasSuffix(ext, " ") {
				ext += " "
			}
			ext += bit
		default:
			return nil, fmt.Errorf("template parse error near %q", line)
		}
	}
	if err := save(); err != nil {
		return nil, err
	}
	return data, nil
}

var priorities = map[string]int{"low": 0, "medium": 1, "high": 2, "critical": 3}

// The frontend.

func init() {
	internal["__native_debconf_start"] = command{fn: debconfStartCmd}
	internal["__native_debconf"] = command{fn: debconfCmd, shared: true}
}

// debconfStartCmd does what debconf's frontend does before running the
// script that loaded confmodule: find the owning package, load its
// templates, run its config script.
func debconfStartCmd(c *cmd) error {
	s := c.s
	args := c.args[1:]
	if len(args) == 0 {
		return c.failf("no script name")
	}
	script := args[0]
	p := c.run.pkg
	owner := c.getenv("DEBCONF_PACKAGE")
	base := ""
	switch m := regexp.MustCompile(`^.*/(.*?)\.(postinst|postrm|prerm|preinst|config)$`).FindStringSubmatch(script); {
	case strings.HasPrefix(script, "/var/lib/dpkg/tmp.ci/"):
		if owner == "" && p != nil {
			owner = p.name
		}
		base = "/var/lib/dpkg/tmp.ci/"
	case m != nil:
		if owner == "" && m[2] != "preinst" && m[2] != "config" {
			owner = m[1]
		}
		base = strings.TrimSuffix(script, m[2])
	}
	sess := &dcSession{owner: owner}
	c.run.debconf = sess
	s.mu.Lock()
	s.keepDebconf()
	s.debconf.used = true
	if owner == "" {
		// A program, not a maintainer script (ucf --debconf-ok run by a
		// postinst): no owner, and templates found by its name.
		err := s.debconfProgramTemplates(script)
		s.mu.Unlock()
		if err != nil {
			return c.failf("%v", err)
		}
		return nil
	}
	if p != nil {
		if t, ok := p.ctrl.Files["templates"]; ok && base != "" {
			if err := s.debconf.loadTemplates(t.Data, owner); err != nil {
				s.mu.Unlock()
				return c.failf("%s templates: %v", p.name, err)
			}
		}
	}
	s.mu.Unlock()
	// The config script runs first, as "config configure VERSION".
	m := regexp.MustCompile(`\.(postinst|preinst)$`).FindStringSubmatch(script)
	if m == nil || p == nil {
		return nil
	}
	cfg, ok := p.ctrl.Files["config"]
	if !ok {
		return nil
	}
	version := ""
	if len(args) > 2 {
		version = args[2]
	}
	sub := &shellRun{pkg: p, name: base + "config", args: []string{"configure", version},
		env: append(exportedEnv(c.env), "DEBIAN_HAS_FRONTEND=1"), stdin: c.stdin, stdout: c.stderr, stderr: c.stderr,
		umask: c.run.umask, debconf: &dcSession{owner: owner}}
	err := s.runShell(c.ctx, sub, cfg.Data)
	s.mu.Lock()
	s.finishSession(sub.debconf)
	s.mu.Unlock()
	if se, ok := err.(*ScriptError); ok {
		return status(se.Status)
	}
	return err
}

// debconfProgramTemplates loads the templates debconf's frontend looks
// for when the program using confmodule is not a maintainer script.
func (s *sys) debconfProgramTemplates(script string) error {
	cands := []string{script + ".templates"}
	if strings.HasSuffix(script, "config") {
		cands = append(cands, strings.TrimSuffix(script, "config")+"templates")
	}
	cands = append(cands, "/usr/share/debconf/templates/"+path.Base(script)+".templates")
	for _, f := range cands {
		if !strings.HasPrefix(f, "/") {
			continue
		}
		data, err := s.readFile(f)
		if err != nil {
			continue
		}
		return s.debconf.loadTemplates(data, "")
	}
	return nil
}

// finishSession marks seen what the session would have shown.
func (s *sys) finishSession(sess *dcSession) {
	if sess == nil {
		return
	}
	for _, q := range sess.seen {
		if it := s.debconf.config[q]; it != nil {
			it.flags["seen"] = "true"
		}
	}
	sess.seen = nil
}

// debconfCmd answers one confmodule command: "CODE text" on stdout.
func debconfCmd(c *cmd) error {
	s := c.s
	d := s.debconf
	sess := c.run.debconf
	if sess == nil {
		return c.unsupported("debconf command outside a debconf session")
	}
	// The shell library passes the command line as words; debconf
	// splits it on single spaces.
	words := strings.Fields(strings.Join(c.args[1:], " "))
	if len(words) == 0 {
		return c.unsupported("empty debconf command")
	}
	cmdName, args := strings.ToUpper(words[0]), words[1:]
	reply := func(code int, text string) error {
		fmt.Fprintf(c.stdout, "%d %s\n", code, text)
		return nil
	}
	badParams := func(q string) error { return reply(10, fmt.Sprintf("%q doesn't exist", q)) }
	switch cmdName {
	case "VERSION":
		return reply(0, "2.0")
	case "CAPB":
		sess.capb = args
		return reply(0, "multiselect escape")
	case "TITLE", "SETTITLE", "BEGINBLOCK", "ENDBLOCK", "INFO", "PROGRESS", "DATA", "STOP", "PREVIOUS_MODULE":
		return reply(0, "")
	case "CLEAR":
		sess.pending = nil
		return reply(0, "")
	case "INPUT":
		if len(args) != 2 {
			return reply(20, "Incorrect number of arguments")
		}
		prio, name := args[0], args[1]
		q := d.question(name)
		if q == nil {
			return badParams(name)
		}
		pr, ok := priorities[prio]
		if !ok {
			return reply(20, fmt.Sprintf("%q is not a valid priority", prio))
		}
		visible := true
		if t := d.templateOf(q); t == nil || t.fields["type"] != "error" {
			if pr < s.debconfPriority() || q.flags["seen"] == "true" {
				visible = false
			}
		}
		// The noninteractive frontend shows nothing; what it would have
		// shown counts as seen (DEBCONF_NONINTERACTIVE_SEEN=true).
		markSeen := visible && c.getenv("DEBCONF_NONINTERACTIVE_SEEN") == "true"
		sess.pending = append(sess.pending, dcElement{question: name, markSeen: markSeen})
		return reply(30, "question skipped")
	case "GO":
		for _, el := range sess.pending {
			q := d.question(el.question)
			if q == nil {
				continue
			}
			q.fields["value"] = d.noninteractiveValue(el.question)
			if el.markSeen {
				sess.seen = append(sess.seen, el.question)
			}
		}
		sess.pending = nil
		return reply(0, "ok")
	case "GET":
		if len(args) != 1 {
			return reply(20, "Incorrect number of arguments")
		}
		if d.question(args[0]) == nil {
			return badParams(args[0])
		}
		v, _ := d.value(args[0])
		return reply(0, v)
	case "SET":
		if len(args) < 1 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		q.fields["value"] = strings.Join(args[1:], " ")
		return reply(0, "value set")
	case "RESET":
		if len(args) != 1 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		// value(default): the template's default, '' without one.
		if _, own := q.fields["default"]; own {
			q.fields["value"] = q.fields["default"]
		} else if t := d.templateOf(q); t != nil {
			q.fields["value"] = tmplField(t, "default", true)
		}
		q.flags["seen"] = "false"
		return reply(0, "")
	case "SUBST":
		if len(args) < 2 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		q.variables[args[1]] = strings.Join(args[2:], " ")
		return reply(0, "")
	case "FGET":
		if len(args) != 2 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		v := q.flags[args[1]]
		if v == "" {
			v = "false"
		}
		return reply(0, v)
	case "FSET":
		if len(args) < 3 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		if args[1] == "seen" {
			var keep []string
			for _, n := range sess.seen {
				if n != args[0] {
					keep = append(keep, n)
				}
			}
			sess.seen = keep
		}
		q.flags[args[1]] = strings.Join(args[2:], " ")
		return reply(0, q.flags[args[1]])
	case "METAGET":
		if len(args) != 2 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		v, ok := d.metaget(q, strings.ToLower(args[1]))
		if !ok {
			return reply(10, args[1]+" does not exist")
		}
		return reply(0, v)
	case "REGISTER":
		if len(args) != 2 {
			return reply(20, "Incorrect number of arguments")
		}
		if d.question(args[0]) == nil {
			return reply(10, fmt.Sprintf("No such template, %q", args[0]))
		}
		d.addQuestion(args[1], sess.owner, args[0])
		return reply(0, "")
	case "UNREGISTER":
		if len(args) != 1 {
			return reply(20, "Incorrect number of arguments")
		}
		q := d.question(args[0])
		if q == nil {
			return badParams(args[0])
		}
		d.removeOwner(args[0], sess.owner)
		return reply(0, "")
	case "PURGE":
		for _, n := range sortedKeys(d.config) {
			d.removeOwner(n, sess.owner)
		}
		return reply(0, "")
	case "X_LOADTEMPLATEFILE":
		if len(args) < 1 || len(args) > 2 {
			return reply(20, "Incorrect number of arguments")
		}
		data, err := s.readFile(c.abs(args[0]))
		if err != nil {
			return reply(10, "failed to open "+args[0])
		}
		owner := sess.owner
		if len(args) == 2 {
			owner = args[1]
		}
		if err := d.loadTemplates(data, owner); err != nil {
			return reply(100, err.Error())
		}
		return reply(0, "")
	}
	return reply(100, "Unsupported command \""+strings.ToLower(cmdName)+"\"")
}

// removeOwner drops owner from question name; an ownerless question
// goes, and its template with it when no question uses it.
func (d *debconfDB) removeOwner(name, owner string) {
	q := d.config[name]
	if q == nil || !q.owners[owner] {
		return
	}
	delete(q.owners, owner)
	if len(q.owners) > 0 {
		return
	}
	tmpl := q.fields["template"]
	delete(d.config, name)
	if t := d.templates[tmpl]; t != nil {
		delete(t.owners, name)
		if len(t.owners) == 0 {
			delete(d.templates, tmpl)
		}
	}
}

// noninteractiveValue is the value the noninteractive element of a
// question gives it at GO: the current value, for a select one of the
// choices (the first if the value is not one), empty for a text.
func (d *debconfDB) noninteractiveValue(name string) string {
	q := d.config[name]
	v, _ := d.value(name)
	t := d.templateOf(q)
	if t == nil {
		return v
	}
	switch t.fields["type"] {
	case "text", "error":
		return ""
	case "select":
		// Noninteractive::Select compares with the untranslated
		// choices (Choices-C where the template has it): the value
		// stored is always a C value.
		choices := splitChoices(expandVars(tmplField(t, "choices", false), q.variables))
		for _, ch := range choices {
			if ch == v {
				return v
			}
		}
		if len(choices) > 0 {
			return choices[0]
		}
		return ""
	}
	return v
}

// splitChoices is Question->choices_split: ", " separates, "\," and
// "\ " escape.
func splitChoices(s string) []string {
	var out []string
	var item strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == ' '):
			item.WriteByte(s[i+1])
			i++
		case s[i] == ',' && i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t'):
			out = append(out, item.String())
			item.Reset()
			for i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t') {
				i++
			}
		default:
			item.WriteByte(s[i])
		}
	}
	if item.Len() > 0 {
		out = append(out, item.String())
	}
	return out
}

// expandVars substitutes ${var} from a question's variables.
func expandVars(text string, vars map[string]string) string {
	re := regexp.MustCompile(`(\\)?\$\{([^{}]+)\}`)
	return re.ReplaceAllStringFunc(text, func(m string) string {
		sub := re.FindStringSubmatch(m)
		if sub[1] != "" {
			return "${" + sub[2] + "}"
		}
		return vars[sub[2]]
	})
}

// debconfPriority is the lowest priority shown: DEBIAN_PRIORITY, else
// the debconf/priority question, else high.
func (s *sys) debconfPriority() int {
	if v, ok := s.debconf.value("debconf/priority"); ok {
		if p, ok := priorities[v]; ok {
			return p
		}
	}
	return priorities["high"]
}
