//go:build !linux

package progress

// Elsewhere the display stays silent rather than guess.
func isTerminal(fd uintptr) bool { return false }

func termWidth(fd uintptr) int { return 0 }
