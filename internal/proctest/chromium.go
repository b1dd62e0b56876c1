package proctest

import (
	"os/exec"
	"testing"
)

// Chromium is the path of the chromium binary the browser tests drive, or
// skips the test saying how to install it (Debian names it chromium,
// Ubuntu's older package chromium-browser).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium): the browser test needs it")
	return ""
}
