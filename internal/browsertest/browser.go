// Package browsertest starts the headless chromium the browser tests drive
// (chromedp). It is apart from proctest so that the benchmark driver, its
// own module, which uses proctest, does not need chromedp.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// Browser starts a headless chromium (its own profile directory, no
// sandbox as root, which chromium refuses) and returns its first tab's
// context, valid for at most d; the test's cleanup stops it. A browser
// that fails to start is started again, at most twice: under load the
// launcher has crashed at start-up (seen at load 9 with two browsers and
// three clusters on 2 cores), which is not what a browser test is about.
func Browser(t testing.TB, chromium string, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()))
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox)
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
		root, cancelRoot := chromedp.NewContext(alloc)
		if err = chromedp.Do(root); err == nil { // starts the browser, under no step's deadline
			t.Cleanup(cancelAlloc)
			t.Cleanup(cancelRoot)
			return root
		}
		cancelRoot()
		cancelAlloc()
		t.Logf("chromium start, attempt %d: %v", attempt, err)
	}
	t.Fatalf("chromium did not start in 3 attempts: %v", err)
	return nil
}
