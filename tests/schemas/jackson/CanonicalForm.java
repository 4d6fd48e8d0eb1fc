package syncpipe.jackson;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * The canonical form of SPEC §2 as the platform computes it: the body read into a map of objects by
 * Jackson (integers as Integer, Long or BigInteger, other numbers as Double, nested objects as
 * LinkedHashMap in the order received), the top-level entries whose value is null dropped and the
 * rest put into a TreeMap (Java String order), written back by the same ObjectMapper.
 *
 * <p>Run as a source file ({@code java -cp <jackson jars> CanonicalForm.java}). Writes the Java
 * specification version on the first line of stdout; then, for each line of stdin (one JSON body,
 * UTF-8), one line: its canonical form, or "!" and the exception when Jackson cannot read it.
 * Flushes after each line, so that a test can send one body and wait for its answer.
 */
public final class CanonicalForm {
    private CanonicalForm() {}

    public static void main(String[] args) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        out.write(System.getProperty("java.specification.version") + "\n");
        out.flush();
        for (String body = in.readLine(); body != null; body = in.readLine()) {
            String answer;
            try {
                answer = canonical(mapper, body);
            } catch (IOException | RuntimeException e) {
                answer = "!" + e.toString().replace('\n', ' ').replace('\r', ' ');
            }
            out.write(answer + "\n");
            out.flush();
        }
    }

    @SuppressWarnings("unchecked")
    static String canonical(ObjectMapper mapper, String body) throws IOException {
        Map<String, Object> read = mapper.readValue(body, Map.class);
        TreeMap<String, Object> sorted = new TreeMap<>();
        for (Map.Entry<String, Object> entry : read.entrySet()) {
            if (entry.getValue() != null) {
                sorted.put(entry.getKey(), entry.getValue());
            }
        }
        return mapper.writeValueAsString(sorted);
    }
}
