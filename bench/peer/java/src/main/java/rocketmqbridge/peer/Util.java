package rocketmqbridge.peer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.common.message.MessageExt;

/** Small helpers shared by the peers: `--name value` arguments, JSON text, /proc figures. */
final class Util {
    private Util() {
    }

    /** Parses `--name value` pairs and bare `--flag`s. */
    static Map<String, String> args(String[] argv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String name = a.substring(2);
            if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                m.put(name, argv[++i]);
            } else {
                m.put(name, "true");
            }
        }
        return m;
    }

    static String required(Map<String, String> a, String name) {
        String v = a.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return v;
    }

    /** A JSON string literal for `s` (null gives `null`). */
    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    /** One stored message as a JSON object, the same field names as `rocketmq-bridge consume`. */
    static String messageJson(MessageExt m) {
        StringBuilder b = new StringBuilder(256);
        b.append("{\"topic\":").append(q(m.getTopic()));
        b.append(",\"broker\":").append(q(m.getBrokerName()));
        b.append(",\"queue\":").append(m.getQueueId());
        b.append(",\"offset\":").append(m.getQueueOffset());
        b.append(",\"msg_id\":").append(q(m.getMsgId()));
        b.append(",\"keys\":[");
        String keys = m.getKeys();
        if (keys != null && !keys.isEmpty()) {
            String[] ks = keys.split(" ");
            for (int i = 0; i < ks.length; i++) {
                b.append(i == 0 ? "" : ",").append(q(ks[i]));
            }
        }
        b.append("],\"tags\":").append(q(m.getTags()));
        b.append(",\"properties\":{");
        boolean first = true;
        for (Map.Entry<String, String> e : new TreeMap<>(m.getProperties()).entrySet()) {
            b.append(first ? "" : ",").append(q(e.getKey())).append(':').append(q(e.getValue()));
            first = false;
        }
        b.append('}');
        byte[] body = m.getBody();
        String text = utf8OrNull(body);
        b.append(",\"body\":").append(q(text));
        if (text == null) {
            b.append(",\"body_base64\":").append(q(Base64.getEncoder().encodeToString(body)));
        }
        b.append(",\"born_timestamp\":").append(m.getBornTimestamp());
        b.append(",\"store_timestamp\":").append(m.getStoreTimestamp());
        return b.append('}').toString();
    }

    static String utf8OrNull(byte[] body) {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(body)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return null;
        }
    }

    /** Process CPU time (user + system) in seconds, from /proc/self/stat (fields 14 and 15). */
    static double cpuSeconds() {
        try {
            String s = Files.readString(Path.of("/proc/self/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            // f[0] is field 3 (state), so field n is f[n - 3].
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Peak resident set size in KiB (VmHWM of /proc/self/status). */
    static long peakRssKib() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.substring(6).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
