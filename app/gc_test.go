package app

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsTheServerTargetUnlessGOGCIsSet(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	TuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != ServerGCPercent {
		t.Errorf("without GOGC: GC percent %d, want %d", got, ServerGCPercent)
	}
	TuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want it left alone (100)", got)
	}
}
