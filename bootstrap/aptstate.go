package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/debstrap/debstrap/rootfs"
)

// finishApt leaves what mmdebstrap's run of apt leaves behind, so the image
// matches it and apt inside finds its state as usual: fstab's placeholder,
// apt's lock files, and the partial download directories owned by _apt.
func finishApt(st *rootfs.Stage) error {
	if _, ok := st.Lookup("/etc/fstab"); !ok {
		if err := st.WriteFile("/etc/fstab", []byte("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n"), rootfs.Entry{Mode: 0o644}); err != nil {
			return err
		}
	}
	aptUID := -1
	if data, err := st.ReadFile("/etc/passwd"); err == nil {
		aptUID = lookupUID(data, "_apt")
	}
	for _, dir := range []string{"/var/cache/apt/archives", "/var/lib/apt/lists"} {
		if e, ok := st.Lookup(dir); !ok || e.Type != '5' {
			continue
		}
		if _, ok := st.Lookup(dir + "/lock"); !ok {
			if err := st.WriteFile(dir+"/lock", nil, rootfs.Entry{Mode: 0o640}); err != nil {
				return err
			}
		}
		if aptUID < 0 {
			continue
		}
		partial := dir + "/partial"
		if _, ok := st.Lookup(partial); !ok {
			if err := st.Mkdir(partial, rootfs.Entry{Mode: 0o700, Uid: aptUID}); err != nil {
				return err
			}
			continue
		}
		if err := st.Update(partial, func(e *rootfs.Entry) { e.Mode, e.Uid, e.Gid = 0o700, aptUID, 0 }); err != nil {
			return fmt.Errorf("%s: %w", partial, err)
		}
	}
	return nil
}

// lookupUID finds name's uid in a passwd file; -1 if absent.
func lookupUID(passwd []byte, name string) int {
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) > 2 && f[0] == name {
			if n, err := strconv.Atoi(f[2]); err == nil {
				return n
			}
		}
	}
	return -1
}
