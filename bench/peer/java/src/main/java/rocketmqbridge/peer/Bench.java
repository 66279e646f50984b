package rocketmqbridge.peer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/**
 * The producer benchmark of examples/bench_producer.rs, through the Java DefaultMQProducer: 256-byte
 * bodies; sync 1 thread (min(N, 20000) messages), sync 8 threads (N), async with at most 256 requests
 * in flight (N), async batches of 100 with at most 256 batches in flight (10 N). 50 warm-up sends,
 * one topic per run (auto-created). Prints msgs/s, p50/p99 latency, client CPU per message (process
 * user + system time from /proc/self/stat, JIT and GC included) and peak RSS (VmHWM), then one JSON line.
 *
 * <pre>
 * Bench --namesrv ADDR [--messages N] [--scenarios sync1,sync8,async,batch100] [--window 256]
 * </pre>
 */
public final class Bench {
    static final byte[] BODY = new byte[256];

    static {
        Arrays.fill(BODY, (byte) 'x');
    }

    record Report(String name, long messages, long failed, double secs, double cpu, long[] lat) {
        long pct(double p) {
            if (lat.length == 0) {
                return 0;
            }
            long[] v = lat.clone();
            Arrays.sort(v);
            return v[(int) Math.round((v.length - 1) * p)];
        }

        double rate() {
            return messages / secs;
        }

        double cpuUsPerMsg() {
            return cpu * 1e6 / Math.max(1, messages);
        }
    }

    /** Appends latencies from many threads. */
    static final class Lat {
        private long[] v;
        private int n;

        Lat(int cap) {
            v = new long[Math.max(16, cap)];
        }

        synchronized void add(long us) {
            if (n == v.length) {
                v = Arrays.copyOf(v, n * 2);
            }
            v[n++] = us;
        }

        synchronized long[] get() {
            return Arrays.copyOf(v, n);
        }
    }

    static final java.util.concurrent.atomic.AtomicBoolean FIRST_ERROR = new java.util.concurrent.atomic.AtomicBoolean();

    /** Prints the first send error of the run to stderr (later ones are only counted). */
    static void noteError(Object e) {
        if (FIRST_ERROR.compareAndSet(false, true)) {
            System.err.println("first send error: " + e);
        }
    }

    static Message msg(String topic) {
        return new Message(topic, BODY.clone());
    }

    static Report sync(DefaultMQProducer p, String topic, int n, int threads, String name) throws Exception {
        Lat lat = new Lat(n);
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        double c0 = Util.cpuSeconds();
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int first = t;
            Thread th = new Thread(() -> {
                for (int i = first; i < n; i += threads) {
                    long st = System.nanoTime();
                    try {
                        SendResult r = p.send(msg(topic));
                        if (r.getSendStatus() != SendStatus.SEND_OK) {
                            noteError(r.getSendStatus());
                            failed.incrementAndGet();
                        }
                    } catch (Exception e) {
                        noteError(e);
                        failed.incrementAndGet();
                    }
                    lat.add((System.nanoTime() - st) / 1000);
                }
            }, "bench-sync-" + t);
            th.start();
            ts.add(th);
        }
        for (Thread th : ts) {
            th.join();
        }
        return new Report(name, n, failed.get(), (System.nanoTime() - t0) / 1e9, Util.cpuSeconds() - c0, lat.get());
    }

    static Report async(DefaultMQProducer p, String topic, int n, int batch, int window, String name) throws Exception {
        Lat lat = new Lat(n / batch + 1);
        AtomicLong failed = new AtomicLong();
        AtomicLong done = new AtomicLong();
        Semaphore inFlight = new Semaphore(window);
        long t0 = System.nanoTime();
        double c0 = Util.cpuSeconds();
        int sent = 0;
        while (sent < n) {
            final int k = Math.min(batch, n - sent);
            inFlight.acquire();
            final long st = System.nanoTime();
            SendCallback cb = new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        noteError(r.getSendStatus());
                        failed.addAndGet(k);
                    }
                    finish();
                }

                @Override
                public void onException(Throwable e) {
                    noteError(e);
                    failed.addAndGet(k);
                    finish();
                }

                private void finish() {
                    lat.add((System.nanoTime() - st) / 1000);
                    done.addAndGet(k);
                    inFlight.release();
                }
            };
            try {
                if (batch == 1) {
                    p.send(msg(topic), cb);
                } else {
                    List<Message> msgs = new ArrayList<>(k);
                    for (int i = 0; i < k; i++) {
                        msgs.add(msg(topic));
                    }
                    p.send(msgs, cb);
                }
            } catch (Exception e) {
                noteError(e);
                failed.addAndGet(k);
                done.addAndGet(k);
                inFlight.release();
            }
            sent += k;
        }
        long limit = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (done.get() < n && System.nanoTime() < limit) {
            TimeUnit.MICROSECONDS.sleep(200);
        }
        return new Report(name, n, failed.get() + (n - done.get()), (System.nanoTime() - t0) / 1e9,
            Util.cpuSeconds() - c0, lat.get());
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String ns = Util.required(a, "namesrv");
        int n = Integer.parseInt(a.getOrDefault("messages", "10000"));
        int window = Integer.parseInt(a.getOrDefault("window", "256"));
        String scenarios = a.getOrDefault("scenarios", "sync1,sync8,async,batch100");
        DefaultMQProducer p = new DefaultMQProducer("bench_java_group");
        p.setNamesrvAddr(ns);
        p.start();
        String topic = "BenchJava" + ProcessHandle.current().pid();
        for (int i = 0; i < 50; i++) {
            try {
                p.send(msg(topic));
            } catch (Exception e) {
                // warm-up: the first sends create the topic
            }
        }
        List<Report> reports = new ArrayList<>();
        for (String s : scenarios.split(",")) {
            Report r;
            switch (s) {
                case "sync1": r = sync(p, topic, Math.min(n, 20_000), 1, "sync1"); break;
                case "sync8": r = sync(p, topic, n, 8, "sync8"); break;
                case "async": r = async(p, topic, n, 1, window, "async"); break;
                case "batch100": r = async(p, topic, n * 10, 100, window, "batch100"); break;
                default:
                    System.err.println("unknown scenario " + s);
                    continue;
            }
            System.out.printf(java.util.Locale.ROOT, "%-9s %8d msgs  %10.0f msgs/s  p50 %6d us  p99 %7d us  cpu %6.2f us/msg  failed %d%n",
                r.name(), r.messages(), r.rate(), r.pct(0.5), r.pct(0.99), r.cpuUsPerMsg(), r.failed());
            reports.add(r);
        }
        long rss = Util.peakRssKib();
        System.out.printf("peak RSS %d KiB%n", rss);
        StringBuilder b = new StringBuilder("{\"bench\":\"producer\",\"client\":\"java\"");
        for (Report r : reports) {
            b.append(String.format(java.util.Locale.ROOT, ",\"%s\":{\"msgs\":%d,\"msgs_per_s\":%.0f,\"p50_us\":%d,\"p99_us\":%d,\"cpu_us_per_msg\":%.2f,\"failed\":%d}",
                r.name(), r.messages(), r.rate(), r.pct(0.5), r.pct(0.99), r.cpuUsPerMsg(), r.failed()));
        }
        b.append(",\"peak_rss_kib\":").append(rss).append('}');
        System.out.println(b);
        p.shutdown();
    }
}
