package workbook;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.*;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * An unprivileged user for the tests: runs commands with setpriv(1) under its own uid, with a
 * home of its own (JBang's cache and Maven repository live there) and its own copy of the
 * stages, as a learner who cloned the workbook without sudo would have.
 */
public final class TestUser {
    /** "nobody": exists on every Debian system and owns nothing. */
    public static final TestUser NOBODY = new TestUser(65534);

    private final int uid;
    private final Path home;

    private TestUser(int uid) {
        this.uid = uid;
        this.home = Path.of("/tmp/workbook-test-user-" + uid);
    }

    public int uid() {
        return uid;
    }

    public Path home() {
        return ensureHome();
    }

    /** The command, run as this user with its home. */
    List<String> wrap(List<String> command) {
        ensureHome();
        // Java takes its home from the password database, not $HOME: JBang is told where to cache.
        List<String> wrapped = new ArrayList<>(List.of("env", "HOME=" + home, "USER=nobody",
                "JBANG_DIR=" + home.resolve(".jbang"), "JBANG_REPO=" + home.resolve(".m2/repository"),
                "setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    /** The user's own copy of a workbook file; returns the root of that copy. */
    Path copyOf(String relative) {
        Path workbook = ensureHome().resolve("workbook");
        Path target = workbook.resolve(relative);
        try {
            Files.createDirectories(target.getParent());
            Files.copy(Stage.WORKBOOK.resolve(relative), target, StandardCopyOption.REPLACE_EXISTING);
            chownTree(workbook);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return workbook;
    }

    private synchronized Path ensureHome() {
        if (!Files.isDirectory(home)) {
            try {
                Files.createDirectories(home);
                chownTree(home);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Runtime.getRuntime().addShutdownHook(new Thread(this::removeHome));
        }
        return home;
    }

    private void chownTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.toList()) {
                Files.setAttribute(f, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(f, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    private void removeHome() {
        try (Stream<Path> files = Files.walk(home)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // nothing to remove
        }
    }
}
