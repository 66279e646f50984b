// The producer benchmark of examples/bench_producer.rs through github.com/apache/rocketmq-client-go/v2:
// 256-byte bodies; sync 1 goroutine (min(N, 20000) messages), sync 8 goroutines (N), async with at
// most 256 requests in flight (N), async batches of 100 with at most 256 batches in flight (10 N).
// 50 warm-up sends, one topic per run (auto-created). Prints msgs/s, p50/p99 latency, client CPU per
// message (/proc/self/stat, GC included) and peak RSS (VmHWM), then one JSON line.
//
//	peer-bench --namesrv ADDR [--messages N] [--scenarios sync1,sync8,async,batch100] [--window 256]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// cpuSeconds is the process CPU time (user + system) from /proc/self/stat fields 14 and 15.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

// peakRSSKiB is VmHWM from /proc/self/status.
func peakRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			v, _ := strconv.ParseInt(strings.Fields(l[6:])[0], 10, 64)
			return v
		}
	}
	return 0
}

type report struct {
	name     string
	messages int
	failed   int64
	secs     float64
	cpu      float64
	lat      []int64
}

func (r *report) pct(p float64) int64 {
	if len(r.lat) == 0 {
		return 0
	}
	v := append([]int64(nil), r.lat...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[int(float64(len(v)-1)*p+0.5)]
}
func (r *report) rate() float64        { return float64(r.messages) / r.secs }
func (r *report) cpuUsPerMsg() float64 { return r.cpu * 1e6 / float64(max(1, r.messages)) }

var firstErr sync.Once

// noteErr prints the first send error of the run to stderr (later ones are only counted).
func noteErr(err error, r *primitive.SendResult) {
	firstErr.Do(func() {
		if err != nil {
			fmt.Fprintln(os.Stderr, "first send error:", err)
		} else {
			fmt.Fprintln(os.Stderr, "first send status not OK:", r.Status)
		}
	})
}

var body = []byte(strings.Repeat("x", 256))

func msg(topic string) *primitive.Message {
	return primitive.NewMessage(topic, append([]byte(nil), body...))
}

func syncRun(p rocketmq.Producer, topic string, n, threads int, name string) report {
	var mu sync.Mutex
	lat := make([]int64, 0, n)
	var failed int64
	t0, c0 := time.Now(), cpuSeconds()
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(first int) {
			defer wg.Done()
			local := make([]int64, 0, n/threads+1)
			for i := first; i < n; i += threads {
				st := time.Now()
				r, err := p.SendSync(context.Background(), msg(topic))
				if err != nil || r.Status != primitive.SendOK {
					noteErr(err, r)
					atomic.AddInt64(&failed, 1)
				}
				local = append(local, time.Since(st).Microseconds())
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(t)
	}
	wg.Wait()
	return report{name, n, failed, time.Since(t0).Seconds(), cpuSeconds() - c0, lat}
}

func asyncRun(p rocketmq.Producer, topic string, n, batch, window int, name string) report {
	var mu sync.Mutex
	lat := make([]int64, 0, n/batch+1)
	var failed, done int64
	inFlight := make(chan struct{}, window)
	t0, c0 := time.Now(), cpuSeconds()
	for sent := 0; sent < n; {
		k := min(batch, n-sent)
		inFlight <- struct{}{}
		st := time.Now()
		msgs := make([]*primitive.Message, k)
		for i := range msgs {
			msgs[i] = msg(topic)
		}
		err := p.SendAsync(context.Background(), func(_ context.Context, r *primitive.SendResult, err error) {
			if err != nil || r.Status != primitive.SendOK {
				noteErr(err, r)
				atomic.AddInt64(&failed, int64(k))
			}
			mu.Lock()
			lat = append(lat, time.Since(st).Microseconds())
			mu.Unlock()
			atomic.AddInt64(&done, int64(k))
			<-inFlight
		}, msgs...)
		if err != nil {
			noteErr(err, nil)
			atomic.AddInt64(&failed, int64(k))
			atomic.AddInt64(&done, int64(k))
			<-inFlight
		}
		sent += k
	}
	limit := time.Now().Add(300 * time.Second)
	for atomic.LoadInt64(&done) < int64(n) && time.Now().Before(limit) {
		time.Sleep(200 * time.Microsecond)
	}
	mu.Lock()
	l := append([]int64(nil), lat...)
	mu.Unlock()
	missing := int64(n) - atomic.LoadInt64(&done)
	return report{name, n, atomic.LoadInt64(&failed) + missing, time.Since(t0).Seconds(), cpuSeconds() - c0, l}
}

func main() {
	ns := flag.String("namesrv", "127.0.0.1:9876", "name server address")
	n := flag.Int("messages", 10000, "messages per scenario (sync1: at most 20000; batch100: 10x)")
	scenarios := flag.String("scenarios", "sync1,sync8,async,batch100", "comma-separated scenarios")
	window := flag.Int("window", 256, "async requests in flight")
	flag.Parse()
	rlog.SetLogLevel("error")

	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver(strings.Split(*ns, ";"))),
		producer.WithGroupName("bench_go_group"),
		producer.WithRetry(2),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new producer:", err)
		os.Exit(1)
	}
	if err := p.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start producer:", err)
		os.Exit(1)
	}
	topic := fmt.Sprintf("BenchGo%d", os.Getpid())
	for i := 0; i < 50; i++ {
		_, _ = p.SendSync(context.Background(), msg(topic)) // warm-up: the first sends create the topic
	}
	var reports []report
	for _, s := range strings.Split(*scenarios, ",") {
		var r report
		switch s {
		case "sync1":
			r = syncRun(p, topic, min(*n, 20000), 1, "sync1")
		case "sync8":
			r = syncRun(p, topic, *n, 8, "sync8")
		case "async":
			r = asyncRun(p, topic, *n, 1, *window, "async")
		case "batch100":
			r = asyncRun(p, topic, *n*10, 100, *window, "batch100")
		default:
			fmt.Fprintln(os.Stderr, "unknown scenario", s)
			continue
		}
		fmt.Printf("%-9s %8d msgs  %10.0f msgs/s  p50 %6d us  p99 %7d us  cpu %6.2f us/msg  failed %d\n",
			r.name, r.messages, r.rate(), r.pct(0.5), r.pct(0.99), r.cpuUsPerMsg(), r.failed)
		reports = append(reports, r)
	}
	rss := peakRSSKiB()
	fmt.Printf("peak RSS %d KiB\n", rss)
	var b strings.Builder
	b.WriteString(`{"bench":"producer","client":"go"`)
	for _, r := range reports {
		fmt.Fprintf(&b, `,"%s":{"msgs":%d,"msgs_per_s":%.0f,"p50_us":%d,"p99_us":%d,"cpu_us_per_msg":%.2f,"failed":%d}`,
			r.name, r.messages, r.rate(), r.pct(0.5), r.pct(0.99), r.cpuUsPerMsg(), r.failed)
	}
	fmt.Fprintf(&b, `,"peak_rss_kib":%d}`, rss)
	fmt.Println(b.String())
	_ = p.Shutdown()
}
