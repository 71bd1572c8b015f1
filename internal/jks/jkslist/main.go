// Command jkslist prints a JKS keystore's entries in file order, one
// per line: alias, certificate type, SHA-256 of the certificate. The
// e2e tests compare the store native mode writes with Java's this way
// (the dates differ: Java writes the time of the run).
package main

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/debstrap/debstrap/internal/jks"
)

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: jkslist KEYSTORE [PASSWORD]")
		os.Exit(2)
	}
	password := "changeit"
	if len(os.Args) == 3 {
		password = os.Args[2]
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "jkslist:", err)
		os.Exit(1)
	}
	entries, err := jks.FileOrder(data, password)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jkslist: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	for _, e := range entries {
		fmt.Printf("%s %s %x\n", e.Alias, e.Type, sha256.Sum256(e.Cert))
	}
}
