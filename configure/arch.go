package configure

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// hostArch is the Debian architecture of this program (a seam for tests).
var hostArch = func() string { return debianArch(runtime.GOARCH) }

// binfmtDir is where binfmt_misc handlers are listed (a seam for tests).
var binfmtDir = "/proc/sys/fs/binfmt_misc"

func debianArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	case "mipsle":
		return "mipsel"
	}
	return goarch // amd64, arm64, s390x, riscv64, loong64
}

// qemuNames maps a Debian architecture to the names qemu-user's binfmt
// handlers are registered under (qemu-NAME).
var qemuNames = map[string][]string{
	"amd64":    {"x86_64"},
	"i386":     {"i386"},
	"arm64":    {"aarch64"},
	"armhf":    {"arm"},
	"armel":    {"arm"},
	"ppc64el":  {"ppc64le"},
	"ppc64":    {"ppc64"},
	"s390x":    {"s390x"},
	"riscv64":  {"riscv64"},
	"mips64el": {"mips64el"},
	"mipsel":   {"mipsel"},
	"loong64":  {"loongarch64"},
	"alpha":    {"alpha"},
	"hppa":     {"hppa"},
	"m68k":     {"m68k"},
	"sh4":      {"sh4"},
	"sparc64":  {"sparc64"},
	"powerpc":  {"ppc"},
	"x32":      {"x86_64"},
}

// natively lists architectures a host runs without emulation on usual
// kernels (amd64's IA-32 emulation).
var natively = map[string][]string{
	"amd64": {"i386", "x32"},
}

// CanRun reports whether the host can execute arch's binaries inside a
// chroot: the host's own architecture, one it runs natively, or one with
// an enabled binfmt_misc handler that has the F (fix binary) flag, since
// the interpreter is not inside the chroot.
func CanRun(arch string) error {
	host := hostArch()
	if arch == host {
		return nil
	}
	for _, a := range natively[host] {
		if a == arch {
			return nil
		}
	}
	names, ok := qemuNames[arch]
	if !ok {
		return fmt.Errorf("cannot run %s binaries on this %s host: unknown architecture", arch, host)
	}
	var why []string
	for _, n := range names {
		h := filepath.Join(binfmtDir, "qemu-"+n)
		data, err := os.ReadFile(h)
		if errors.Is(err, fs.ErrNotExist) {
			why = append(why, fmt.Sprintf("no binfmt_misc handler %s", h))
			continue
		}
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		enabled, fixed := false, false
		for _, line := range strings.Split(string(data), "\n") {
			if line == "enabled" {
				enabled = true
			}
			if f, ok := strings.CutPrefix(line, "flags:"); ok && strings.Contains(f, "F") {
				fixed = true
			}
		}
		switch {
		case !enabled:
			why = append(why, fmt.Sprintf("binfmt_misc handler %s is disabled", h))
		case !fixed:
			why = append(why, fmt.Sprintf("binfmt_misc handler %s lacks the F flag (its interpreter is not reachable inside a chroot)", h))
		default:
			return nil
		}
	}
	return fmt.Errorf("cannot run %s binaries on this %s host: %s (install qemu-user-static or qemu-user-binfmt)",
		arch, host, strings.Join(why, "; "))
}
