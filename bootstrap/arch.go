package bootstrap

import "runtime"

// HostArchitecture is the Debian name of the architecture this program runs on.
func HostArchitecture() string {
	switch runtime.GOARCH {
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
	case "loong64":
		return "loong64"
	}
	return runtime.GOARCH // amd64, arm64, s390x, riscv64
}
