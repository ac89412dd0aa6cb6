//go:build !unix

package bench

import "time"

// processCPU is unknown here; CPU figures print as zero.
func processCPU() time.Duration { return 0 }
