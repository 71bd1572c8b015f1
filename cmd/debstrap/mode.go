package main

import (
	"fmt"

	"github.com/debstrap/debstrap/bootstrap"
)

// configurer picks the configure step for --mode.
func configurer(mode string, archs []string) (bootstrap.Configurer, error) {
	switch mode {
	case "extract":
		return nil, nil
	}
	return nil, fmt.Errorf("--mode=%s is not available yet; use --mode=extract", mode)
}
