package rocketmqbridge.interop;

import com.alibaba.fastjson2.JSON;
import com.alibaba.fastjson2.JSONArray;
import com.alibaba.fastjson2.JSONObject;
import com.alibaba.fastjson2.JSONWriter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.remoting.protocol.LanguageCode;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.apache.rocketmq.remoting.protocol.SerializeType;

/**
 * Runs the reference Apache RocketMQ {@code RemotingCommand} codec on frames written by
 * rocketmq-bridge, and writes reference frames for rocketmq-bridge to decode.
 *
 * <pre>
 *   decode DIR            every *.bin file in DIR is one whole frame (with its 4-byte length);
 *                         one JSON line per file on stdout
 *   encode INPUT OUTDIR   INPUT is a JSON array of commands {name, code, language, version, opaque,
 *                         flag, remark, extFields, bodyHex}; each is encoded with the JSON and the
 *                         ROCKETMQ header into OUTDIR/NAME.json.bin and OUTDIR/NAME.rocketmq.bin;
 *                         one JSON line per frame on stdout
 * </pre>
 *
 * Only JSON goes to stdout; diagnostics go to stderr. The exit status is 0 when every frame was
 * handled, 1 when one could not be decoded (its line carries "error"), 2 on bad usage.
 */
public final class CodecVectors {
    private CodecVectors() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("decode")) {
            System.exit(decodeDir(Paths.get(args[1])));
        } else if (args.length == 3 && args[0].equals("encode")) {
            System.exit(encodeFile(Paths.get(args[1]), Paths.get(args[2])));
        } else {
            System.err.println("usage: CodecVectors decode DIR | encode INPUT.json OUTDIR");
            System.exit(2);
        }
    }

    private static int decodeDir(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.bin")) {
            ds.forEach(files::add);
        }
        files.sort(null);
        int status = 0;
        for (Path file : files) {
            JSONObject out = new JSONObject();
            out.put("file", file.getFileName().toString());
            byte[] frame = Files.readAllBytes(file);
            try {
                if (frame.length < 4) {
                    throw new IllegalArgumentException("file shorter than the 4-byte length prefix");
                }
                int totalLen = ByteBuffer.wrap(frame, 0, 4).getInt();
                if (totalLen != frame.length - 4) {
                    throw new IllegalArgumentException("length prefix " + totalLen + " but " + (frame.length - 4)
                        + " bytes follow");
                }
                // NettyDecoder strips the length prefix before RemotingCommand.decode sees the frame.
                RemotingCommand cmd = RemotingCommand.decode(ByteBuffer.wrap(frame, 4, frame.length - 4).slice());
                describe(cmd, out);
            } catch (Exception e) {
                out.put("error", e.toString());
                status = 1;
            }
            System.out.println(JSON.toJSONString(out, JSONWriter.Feature.WriteMapNullValue));
        }
        return status;
    }

    private static void describe(RemotingCommand cmd, JSONObject out) {
        out.put("code", cmd.getCode());
        out.put("language", cmd.getLanguage() == null ? null : cmd.getLanguage().name());
        out.put("version", cmd.getVersion());
        out.put("opaque", cmd.getOpaque());
        out.put("flag", cmd.getFlag());
        out.put("remark", cmd.getRemark());
        out.put("extFields", cmd.getExtFields());
        out.put("bodyHex", cmd.getBody() == null ? null : hex(cmd.getBody()));
        out.put("serializeTypeCurrentRPC", cmd.getSerializeTypeCurrentRPC().name());
    }

    private static int encodeFile(Path input, Path outDir) throws IOException {
        JSONArray commands = JSON.parseArray(Files.readAllBytes(input));
        Files.createDirectories(outDir);
        for (int i = 0; i < commands.size(); i++) {
            JSONObject c = commands.getJSONObject(i);
            for (SerializeType type : new SerializeType[] {SerializeType.JSON, SerializeType.ROCKETMQ}) {
                RemotingCommand cmd = build(c);
                cmd.setSerializeTypeCurrentRPC(type);
                // The path NettyEncoder takes: fastEncodeHeader writes length, type word and header,
                // then the body follows.
                ByteBuf buf = Unpooled.buffer();
                cmd.fastEncodeHeader(buf);
                if (cmd.getBody() != null) {
                    buf.writeBytes(cmd.getBody());
                }
                byte[] frame = new byte[buf.readableBytes()];
                buf.readBytes(frame);
                String name = c.getString("name") + "." + type.name().toLowerCase() + ".bin";
                Files.write(outDir.resolve(name), frame);
                JSONObject out = new JSONObject();
                out.put("file", name);
                out.put("name", c.getString("name"));
                out.put("serializeType", type.name());
                out.put("frameHex", hex(frame));
                System.out.println(JSON.toJSONString(out, JSONWriter.Feature.WriteMapNullValue));
            }
        }
        return 0;
    }

    private static RemotingCommand build(JSONObject c) {
        RemotingCommand cmd = RemotingCommand.createRequestCommand(c.getIntValue("code"), null);
        cmd.setCode(c.getIntValue("code"));
        cmd.setLanguage(LanguageCode.valueOf(c.getString("language")));
        cmd.setVersion(c.getIntValue("version"));
        cmd.setOpaque(c.getIntValue("opaque"));
        cmd.setFlag(c.getIntValue("flag"));
        cmd.setRemark(c.getString("remark"));
        JSONObject ext = c.getJSONObject("extFields");
        if (ext != null) {
            HashMap<String, String> fields = new HashMap<>();
            for (Map.Entry<String, Object> e : ext.entrySet()) {
                fields.put(e.getKey(), String.valueOf(e.getValue()));
            }
            cmd.setExtFields(fields);
        }
        String body = c.getString("bodyHex");
        if (body != null) {
            cmd.setBody(unhex(body));
        }
        return cmd;
    }

    private static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return sb.toString();
    }

    private static byte[] unhex(String s) {
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("bodyHex has odd length " + s.length());
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
