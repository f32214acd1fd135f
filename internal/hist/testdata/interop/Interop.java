// Interop captures how the Java reference implementation of HdrHistogram
// (Debian's libhdrhistogram-java) writes and reads the V2 encoding, so that
// hist's tests can check against it without a JVM. interop_test.go runs it
// when invoked with -update-interop:
//
//	java -cp /usr/share/java/hdrhistogram.jar Interop.java encode
//	java -cp /usr/share/java/hdrhistogram.jar Interop.java decode FILE
//
// encode prints, as JSON, histograms recorded by Java with ranges other than
// smp's, with the figures Java reports for them. decode reads one base64
// histogram per line of FILE and prints the figures Java reports for each.
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.HdrHistogram.Histogram;

public class Interop {
    // Percentiles whose rank p/100*N is a whole number for N = 100000, where
    // Java's rank rule (ceiling) and Go's (round half up) agree.
    static final double[] PERCENTILES = {25, 50, 75, 90, 95, 98, 99, 99.9, 99.99};
    static final long HOUR_US = 3_600_000_000L;

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.ROOT);
        switch (args[0]) {
            case "encode" -> encode();
            case "decode" -> decode(Path.of(args[1]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    static void encode() {
        StringBuilder out = new StringBuilder("[\n");
        // wrk2's range: 1 µs … 24 h at 3 digits. Its buckets nest in smp's, and
        // 1% of the values are 2 h … 5 h, above smp's 1 h.
        out.append(encodeOne("wrk2-24h-3digits", new Histogram(1, 24 * HOUR_US, 3), 7200_000_000L, 18000_000_000L));
        out.append(",\n");
        // Coarser than smp: lowest discernible 10, 2 digits, 1 min.
        out.append(encodeOne("coarse-60s-2digits", new Histogram(10, 60_000_000L, 2), 10_000_000L, 60_000_000L));
        out.append(",\n");
        // Finer than smp: 4 digits, 10 s.
        out.append(encodeOne("fine-10s-4digits", new Histogram(1, 10_000_000L, 4), 1_000_000L, 10_000_000L));
        out.append("\n]\n");
        System.out.print(out);
    }

    // encodeOne records 100000 values: 89% log-normal around 300 µs, 10%
    // around 40 ms, 1% uniform in [tailLo, tailHi], and 0, 1 and 2 µs.
    static String encodeOne(String name, Histogram h, long tailLo, long tailHi) {
        Random r = new Random(42);
        h.recordValue(0);
        h.recordValue(1);
        h.recordValue(2);
        for (int i = 3; i < 100_000; i++) {
            double u = r.nextDouble();
            long v;
            if (u < 0.89) {
                v = Math.round(Math.exp(Math.log(300) + 0.6 * r.nextGaussian()));
            } else if (u < 0.99) {
                v = Math.round(Math.exp(Math.log(40_000) + 0.3 * r.nextGaussian()));
            } else {
                v = tailLo + (long) (r.nextDouble() * (tailHi - tailLo));
            }
            h.recordValue(Math.min(Math.max(v, 0), h.getHighestTrackableValue()));
        }
        ByteBuffer buf = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
        int n = h.encodeIntoCompressedByteBuffer(buf);
        String enc = Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buf.array(), n));
        long above = 0;
        for (var v : h.recordedValues()) {
            if (v.getValueIteratedTo() > HOUR_US && h.lowestEquivalentValue(v.getValueIteratedTo()) > HOUR_US) {
                above += v.getCountAtValueIteratedTo();
            }
        }
        return "{\"name\": \"" + name + "\", " + range(h) + ", \"encoded\": \"" + enc + "\", "
            + "\"above_1h\": " + above + ", " + figures(h) + "}";
    }

    static void decode(Path file) throws Exception {
        List<String> lines = Files.readAllLines(file);
        StringBuilder out = new StringBuilder("[\n");
        for (int i = 0; i < lines.size(); i++) {
            byte[] raw = Base64.getDecoder().decode(lines.get(i).trim());
            Histogram h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(raw), 0);
            out.append(i == 0 ? "" : ",\n").append("{").append(range(h)).append(", ").append(figures(h)).append("}");
        }
        out.append("\n]\n");
        System.out.print(out);
    }

    static String range(Histogram h) {
        return "\"lowest\": " + h.getLowestDiscernibleValue() + ", \"highest\": " + h.getHighestTrackableValue()
            + ", \"digits\": " + h.getNumberOfSignificantValueDigits();
    }

    static String figures(Histogram h) {
        StringBuilder s = new StringBuilder();
        s.append("\"count\": ").append(h.getTotalCount())
            .append(", \"min\": ").append(h.getMinValue())
            .append(", \"max\": ").append(h.getMaxValue())
            .append(", \"mean\": ").append(h.getMean())
            .append(", \"stddev\": ").append(h.getStdDeviation())
            .append(", \"percentiles\": [");
        for (int i = 0; i < PERCENTILES.length; i++) {
            s.append(i == 0 ? "" : ", ").append("[").append(PERCENTILES[i]).append(", ")
                .append(h.getValueAtPercentile(PERCENTILES[i])).append("]");
        }
        return s.append("]").toString();
    }
}
