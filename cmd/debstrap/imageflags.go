package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/debstrap/debstrap/export"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// imageFlags are build's flags for an image format's name, config and
// manifest annotations (export.ImageConfig).
type imageFlags struct {
	tag, name                string
	env, labels, annotations keyValueFlag
	cmd, entrypoint          commandFlag
	workdir, user            string
}

// imageFlagNames are the flags of imageFlags; all but annotation need a
// format with an image config, annotation one with a manifest.
var imageFlagNames = []string{"tag", "name", "env", "label", "annotation", "cmd", "entrypoint", "workdir", "user"}

func (f *imageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tag, "tag", "", "image formats: the image's name, NAME[:TAG] (default: TARGET's base name without its ending, tag latest)")
	fs.StringVar(&f.name, "name", "", "the same as --tag")
	fs.Var(&f.env, "env", "image formats: KEY=VALUE in the image's environment, over the default PATH (repeatable)")
	fs.Var(&f.labels, "label", "image formats: KEY=VALUE label of the image config (repeatable)")
	fs.Var(&f.annotations, "annotation", "oci, oci-archive: KEY=VALUE annotation of the image manifest (repeatable)")
	fs.Var(&f.cmd, "cmd", `image formats: the default command, a JSON array ('["bash","-l"]') or words split as sh splits them ('bash -l'); "" for none (default: bash; /bin/bash for Ubuntu; none with --entrypoint)`)
	fs.Var(&f.entrypoint, "entrypoint", "image formats: the entrypoint, written as --cmd's value (default: none)")
	fs.StringVar(&f.workdir, "workdir", "", "image formats: the working directory of a container (default: /)")
	fs.StringVar(&f.user, "user", "", "image formats: USER[:GROUP] (names or ids) a container runs as (default: root)")
}

// check refuses, before any work, what format cannot hold and an
// invalid image name; set are the flags given (command line and spec).
func (f *imageFlags) check(set []string, format export.Format) error {
	if slices.Contains(set, "tag") && slices.Contains(set, "name") && f.tag != f.name {
		return fmt.Errorf("--tag=%s and --name=%s: --name is another name for --tag; give one", f.tag, f.name)
	}
	for _, n := range imageFlagNames {
		if !slices.Contains(set, n) {
			continue
		}
		switch {
		case n == "annotation" && !format.HoldsAnnotations():
			return fmt.Errorf("--annotation applies to %s and %s outputs (an image manifest), not to %s", export.FormatOCI, export.FormatOCIArchive, format)
		case !format.HoldsConfig():
			return fmt.Errorf("--%s applies to %s, %s and %s outputs, not to %s", n, export.FormatOCI, export.FormatOCIArchive, export.FormatDockerArchive, format)
		}
	}
	for _, fl := range []struct{ name, value string }{{"tag", f.tag}, {"name", f.name}} {
		if fl.value == "" {
			continue
		}
		if format == export.FormatRegistry {
			return fmt.Errorf("--%s=%s: a registry TARGET (docker://REGISTRY/REPO:TAG) names the image itself", fl.name, fl.value)
		}
		if err := export.CheckTag(fl.value); err != nil {
			return fmt.Errorf("--%s=%s: %w", fl.name, fl.value, err)
		}
	}
	return nil
}

// config is the export.ImageConfig the flags ask for.
func (f *imageFlags) config() export.ImageConfig {
	c := export.ImageConfig{
		Tag:         f.tag,
		Env:         slices.Clone([]string(f.env)),
		Cmd:         f.cmd.args,
		Entrypoint:  f.entrypoint.args,
		WorkingDir:  f.workdir,
		User:        f.user,
		Labels:      f.labels.mapping(),
		Annotations: f.annotations.mapping(),
	}
	if c.Tag == "" {
		c.Tag = f.name
	}
	return c
}

// keyValueFlag accumulates KEY=VALUE over repeated use. Unlike listFlag
// it never splits at commas or spaces: a value may hold them.
type keyValueFlag []string

func (k *keyValueFlag) String() string { return strings.Join(*k, " ") }

func (k *keyValueFlag) Set(s string) error {
	key, _, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return errors.New("want KEY=VALUE")
	}
	if strings.ContainsRune(s, 0) {
		return errors.New("contains a NUL byte")
	}
	*k = append(*k, s)
	return nil
}

// Repeatable and KeyValues: a spec file gives a list or a mapping.
func (k *keyValueFlag) Repeatable() bool { return true }
func (k *keyValueFlag) KeyValues() bool  { return true }

// mapping is the entries as a map, a later KEY winning (nil when none).
func (k keyValueFlag) mapping() map[string]string {
	if len(k) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range k {
		key, v, _ := strings.Cut(kv, "=")
		m[key] = v
	}
	return m
}

// commandFlag is a command (--cmd, --entrypoint): nil until given, empty
// when given "".
type commandFlag struct{ args []string }

func (c *commandFlag) String() string {
	if c == nil || c.args == nil {
		return ""
	}
	b, _ := json.Marshal(c.args)
	return string(b)
}

func (c *commandFlag) Set(s string) error {
	args, err := parseCommand(s)
	if err != nil {
		return err
	}
	c.args = args
	return nil
}

// JSONList: a list in a spec file is given as one JSON array.
func (c *commandFlag) JSONList() bool { return true }

// parseCommand reads a command: a JSON array of strings, as docker's
// exec form writes it, or words split as sh(1) splits them (quotes and
// backslashes honoured). Nothing is expanded — the command runs in the
// image, not here, and the same flags must give the same image — so a
// variable, command substitution, arithmetic, ~ or a glob is an error
// (quote it, or use the JSON form; for a shell's expansions in the
// container use '["sh","-c","…"]'). "" is no command.
func parseCommand(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return []string{}, nil
	}
	if strings.HasPrefix(t, "[") {
		var args []string
		if err := json.Unmarshal([]byte(t), &args); err != nil {
			return nil, fmt.Errorf(`not a JSON array of strings (["bash","-l"]): %w`, err)
		}
		if args == nil {
			args = []string{}
		}
		return args, nil
	}
	var words []*syntax.Word
	for w, err := range syntax.NewParser().WordsSeq(strings.NewReader(s)) {
		if err != nil {
			return nil, fmt.Errorf("not a command of sh words: %w", err)
		}
		words = append(words, w)
	}
	for _, w := range words {
		if err := literalWord(w); err != nil {
			return nil, err
		}
	}
	// Quote removal only: literalWord left nothing to expand, and the
	// environment is empty all the same.
	args, err := expand.Fields(&expand.Config{Env: expand.ListEnviron()}, words...)
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = []string{} // only a comment: no command
	}
	return args, nil
}

// literalWord makes sure w has nothing a shell would expand.
func literalWord(w *syntax.Word) error {
	for i, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.SglQuoted:
			if p.Dollar {
				return fmt.Errorf("%s: $'…' quoting is not read; use '…' or the JSON form", wordText(w))
			}
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.Lit); !ok {
					return fmt.Errorf("%s: nothing is expanded here; quote it with '…' or use the JSON form", wordText(w))
				}
			}
		case *syntax.Lit:
			v := p.Value
			if i == 0 && strings.HasPrefix(v, "~") ||
				strings.ContainsAny(unescaped(v), "*?[{") {
				return fmt.Errorf("%s: nothing is expanded here; quote it with '…' or use the JSON form", wordText(w))
			}
		default:
			return fmt.Errorf("%s: nothing is expanded here; quote it with '…' or use the JSON form", wordText(w))
		}
	}
	return nil
}

// unescaped is v without its backslash-escaped characters: what is left
// a shell would treat as special.
func unescaped(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// wordText is w as written, for messages.
func wordText(w *syntax.Word) string {
	var b strings.Builder
	syntax.NewPrinter().Print(&b, w)
	return b.String()
}
