package workbook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** What the host sees: the tests' independent view of what a stage did. */
public final class Host {
    private Host() {
    }

    public static boolean isRoot() {
        return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
    }

    /** Runs a host command to its end (stdout and stderr kept apart). */
    public static Stage.Result run(String... command) {
        return run(Stage.WORKBOOK, Duration.ofSeconds(60), List.of(command));
    }

    public static Stage.Result run(Path dir, Duration limit, List<String> command) {
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            return new Stage.Running(p, false).finish(limit);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        }
    }

    /** The mount table as the kernel shows it to this process: one line per mount. */
    public static List<String> mountinfo() {
        return read(Path.of("/proc/self/mountinfo")).lines().toList();
    }

    public static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
