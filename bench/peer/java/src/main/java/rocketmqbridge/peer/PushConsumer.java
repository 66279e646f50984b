package rocketmqbridge.peer;

import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * The seed's quickstart consumer (a DefaultMQPushConsumer from the first offset, concurrently) with
 * the topics as an argument and one JSON line per received message on stdout.
 *
 * <pre>
 * PushConsumer --namesrv ADDR --topics T1,T2,... [--group G] [--expect N] [--idle-timeout SECS] [--max-secs SECS]
 * </pre>
 * Ends after N messages (then waits one more idle period for duplicates it would print too), after
 * the idle timeout without a new message once one arrived, or after max-secs in all.
 */
public final class PushConsumer {
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String ns = Util.required(a, "namesrv");
        String[] topics = Util.required(a, "topics").split(",");
        String group = a.getOrDefault("group", "peer_push_consumer_" + ProcessHandle.current().pid());
        long expect = Long.parseLong(a.getOrDefault("expect", "-1"));
        long idleMs = (long) (Double.parseDouble(a.getOrDefault("idle-timeout", "5")) * 1000);
        long maxMs = (long) (Double.parseDouble(a.getOrDefault("max-secs", "120")) * 1000);

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
        consumer.setNamesrvAddr(ns);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        for (String t : topics) {
            consumer.subscribe(t, "*");
        }
        AtomicLong received = new AtomicLong();
        AtomicLong last = new AtomicLong(System.currentTimeMillis());
        Object out = new Object();
        consumer.registerMessageListener((java.util.List<MessageExt> msgs, org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyContext ctx) -> {
            for (MessageExt m : msgs) {
                String line = Util.messageJson(m);
                synchronized (out) {
                    System.out.println(line);
                    System.out.flush();
                }
                received.incrementAndGet();
                last.set(System.currentTimeMillis());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        System.err.printf("PushConsumer: group %s subscribed to %d topics on %s%n", group, topics.length, ns);
        long start = System.currentTimeMillis();
        while (true) {
            TimeUnit.MILLISECONDS.sleep(100);
            long now = System.currentTimeMillis();
            long n = received.get();
            if (now - start > maxMs) {
                System.err.printf("PushConsumer: max time reached after %d messages%n", n);
                break;
            }
            if (expect >= 0 && n >= expect && now - last.get() > Math.min(idleMs, 2000)) {
                break;
            }
            if (expect < 0 && n > 0 && now - last.get() > idleMs) {
                break;
            }
        }
        consumer.shutdown();
        System.err.printf("PushConsumer: received %d messages%n", received.get());
    }
}
