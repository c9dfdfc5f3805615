package report

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium, or skips the test. CI installs
// the Debian package "chromium" (with "fonts-liberation" for text).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found: install the Debian package `chromium` to run the headless-browser report test")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func hexRGB(s string) (r, g, b int) {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	return int(v >> 16), int(v >> 8 & 0xff), int(v & 0xff)
}

func TestHTMLInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	dir := writeTest(t)
	page := "file://" + filepath.Join(dir, HTMLFile)

	// The DOM after rendering has every series and bar.
	dom := string(runChromium(t, bin, "--dump-dom", page))
	if n := strings.Count(dom, `<path class="series"`); n != 8 {
		t.Errorf("rendered DOM has %d timeline series, want 8", n)
	}
	for _, want := range []string{
		`data-workload="wl-a" data-policy="expandable" data-series="reserved"`,
		`data-workload="wl-b" data-policy="pytorch" data-series="allocated"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `<rect class="bar"`); n != 10 {
		t.Errorf("rendered DOM has %d bars, want 10", n)
	}
	// The segment maps of pytorch and of the best other policy at pytorch's
	// first OOM (wl-b), each 660 px wide.
	if n := strings.Count(dom, `<svg class="segmap" xmlns="http://www.w3.org/2000/svg" width="660"`); n != 2 {
		t.Errorf("rendered DOM has %d segment maps 660 px wide, want 2", n)
	}

	// The screenshot has pixels of each plotted policy's colour.
	img := screenshot(t, bin, "1200,2000", page)
	colors := policyColors(testRecords())
	for _, policy := range []string{"expandable", "pytorch"} {
		cr, cg, cb := hexRGB(colors[policy])
		n := 0
		bnd := img.Bounds()
		for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
			for x := bnd.Min.X; x < bnd.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if abs(int(r>>8)-cr) <= 12 && abs(int(g>>8)-cg) <= 12 && abs(int(b>>8)-cb) <= 12 {
					n++
				}
			}
		}
		t.Logf("%s (%s): %d pixels", policy, colors[policy], n)
		if n < 500 {
			t.Errorf("screenshot has %d pixels of %s's colour %s, want at least 500: charts not drawn", n, policy, colors[policy])
		}
	}
}

// TestSegmentMapsSideBySide renders report.html at 1400 px: the two
// segment maps stand side by side, each drawn (the cached free blocks'
// orange in each half of the window) and as wide as its bars say.
func TestSegmentMapsSideBySide(t *testing.T) {
	bin := chromium(t)
	dir := writeTest(t)
	img := screenshot(t, bin, "1400,4000", "file://"+filepath.Join(dir, HTMLFile))
	var left, right int
	minX, maxX := [2]int{1 << 30, 1 << 30}, [2]int{-1, -1}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-0xf2) <= 6 && abs(int(g>>8)-0x8e) <= 6 && abs(int(b>>8)-0x2b) <= 6 {
				half := 0
				if x >= 700 {
					half = 1
					right++
				} else {
					left++
				}
				minX[half], maxX[half] = min(minX[half], x), max(maxX[half], x)
			}
		}
	}
	t.Logf("cached-free pixels: %d left (x %d..%d), %d right (x %d..%d)", left, minX[0], maxX[0], right, minX[1], maxX[1])
	if left < 300 || right < 300 {
		t.Errorf("cached-free orange: %d pixels in the left half, %d in the right, want at least 300 each: the maps are not side by side", left, right)
	}
	// Each map's orange spans most of its 660 px: its bars are drawn to
	// the map's width, not squeezed.
	for h := range 2 {
		if w := maxX[h] - minX[h]; w < 300 || w > 660 {
			t.Errorf("map %d: cached-free pixels span %d px, want 300..660", h, w)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// screenshot renders page in headless Chromium at size ("W,H") and decodes
// the PNG.
func screenshot(t *testing.T, bin, size, page string) image.Image {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size="+size, "--hide-scrollbars", page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
