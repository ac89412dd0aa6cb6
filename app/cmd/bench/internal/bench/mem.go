package bench

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memSampler records the peak Go heap in use while it runs. It reads runtime/metrics, which
// does not stop the world (runtime.ReadMemStats does), so sampling does not add to the
// latencies it runs beside.
type memSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func startMemSampler(every time.Duration) *memSampler {
	m := &memSampler{stop: make(chan struct{})}
	m.sample()
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.sample()
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

func (m *memSampler) sample() {
	if h := heapInuse(); h > m.peak {
		m.peak = h
	}
}

// Stop ends sampling and returns the peak heap in use, in bytes.
func (m *memSampler) Stop() uint64 {
	close(m.stop)
	m.done.Wait()
	m.sample()
	return m.peak
}

// heapInuse is the Go heap in use, as runtime.MemStats.HeapInuse counts it: the bytes of
// the spans that hold objects (live, or dead and not yet swept, and the free slots among them).
func heapInuse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	var n uint64
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			n += v.Value.Uint64()
		}
	}
	return n
}

// resetPeakRSS asks Linux to restart VmHWM from the current RSS (clear_refs "5"); false
// when the kernel refuses, and VmHWM then covers the whole process.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM from /proc/self/status, in bytes; 0 when unavailable.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseUint(f[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }
