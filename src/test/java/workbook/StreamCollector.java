package workbook;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Reads a process's output on a thread of its own, so a full pipe never blocks the process. */
final class StreamCollector {
    static final StreamCollector EMPTY = new StreamCollector(InputStream.nullInputStream());

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final Thread reader;

    StreamCollector(InputStream in) {
        reader = new Thread(() -> {
            byte[] buffer = new byte[8192];
            try (in) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    synchronized (bytes) {
                        bytes.write(buffer, 0, n);
                    }
                }
            } catch (IOException ignored) {
                // the process is gone
            }
        }, "output-reader");
        reader.setDaemon(true);
        reader.start();
    }

    String text() {
        synchronized (bytes) {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    /** Everything, once the process has closed its end. */
    String finish() {
        try {
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return text();
    }
}
