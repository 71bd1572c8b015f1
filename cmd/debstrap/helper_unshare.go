package main

import (
	"os"

	"github.com/debstrap/debstrap/configure"
)

// The root and unshare configure modes re-execute debstrap in new
// namespaces with a hidden first argument; that process must do nothing
// but the helper's work (no flags, no signal handling of main's), so it
// is dispatched here, before main runs.
func init() {
	if len(os.Args) > 1 && os.Args[1] == configure.HelperCommand {
		os.Exit(configure.Helper(os.Args[2:]))
	}
}
