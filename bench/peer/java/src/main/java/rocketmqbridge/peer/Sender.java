package rocketmqbridge.peer;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/**
 * A DefaultMQProducer that sends COUNT messages with keys, a tag and user properties, and prints
 * what it sent (one JSON line per message) so a reader can check it field by field.
 *
 * <pre>
 * Sender --namesrv ADDR --topic T [--count N] [--tag TAG] [--group G] [--send-timeout-ms MS]
 * </pre>
 * Message i has keys "peer-key-i peer-k2-i", the tag, properties peer_index=i and peer_lang=java,
 * and the body "java peer message i: ü€ {\"i\":i}" (UTF-8, non-ASCII on purpose).
 */
public final class Sender {
    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Util.args(argv);
        String ns = Util.required(a, "namesrv");
        String topic = Util.required(a, "topic");
        int count = Integer.parseInt(a.getOrDefault("count", "10"));
        String tag = a.getOrDefault("tag", "peerTag");
        DefaultMQProducer p = new DefaultMQProducer(a.getOrDefault("group", "peer_sender_" + ProcessHandle.current().pid()));
        p.setNamesrvAddr(ns);
        // The first send of a cold JVM on a loaded machine can take longer than the default 3 s.
        p.setSendMsgTimeout(Integer.parseInt(a.getOrDefault("send-timeout-ms", "15000")));
        p.start();
        int failed = 0;
        try {
            for (int i = 0; i < count; i++) {
                String body = "java peer message " + i + ": \u00fc\u20ac {\"i\":" + i + "}";
                Message m = new Message(topic, tag, "peer-key-" + i + " peer-k2-" + i, body.getBytes(StandardCharsets.UTF_8));
                m.putUserProperty("peer_index", Integer.toString(i));
                m.putUserProperty("peer_lang", "java");
                SendResult r = p.send(m);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    failed++;
                }
                System.out.println("{\"msg_id\":" + Util.q(r.getMsgId())
                    + ",\"status\":" + Util.q(r.getSendStatus().name())
                    + ",\"topic\":" + Util.q(topic)
                    + ",\"broker\":" + Util.q(r.getMessageQueue().getBrokerName())
                    + ",\"queue\":" + r.getMessageQueue().getQueueId()
                    + ",\"offset\":" + r.getQueueOffset()
                    + ",\"keys\":[" + Util.q("peer-key-" + i) + "," + Util.q("peer-k2-" + i) + "]"
                    + ",\"tags\":" + Util.q(tag)
                    + ",\"properties\":{\"peer_index\":" + Util.q(Integer.toString(i)) + ",\"peer_lang\":\"java\"}"
                    + ",\"body\":" + Util.q(body) + "}");
            }
        } finally {
            p.shutdown();
        }
        if (failed > 0) {
            System.err.printf("Sender: %d of %d sends not SEND_OK%n", failed, count);
            System.exit(1);
        }
    }
}
