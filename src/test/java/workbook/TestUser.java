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
 * workbook, as a learner who cloned it has: the stages they run, owned by them, and the rootfs
 * that {@code sudo scripts/setup} built, owned by root.
 */
public final class TestUser {
    /**
     * Run by root: uid 1000, the first ordinary user of a Debian system (vagrant, in the course
     * VM). Run by an ordinary user (the learner's scripts/check 06): that user, as they are.
     */
    public static final TestUser LEARNER = Host.isRoot() ? new TestUser(1000, false)
            : new TestUser((int) new com.sun.security.auth.module.UnixSystem().getUid(), true);

    private final int uid;
    private final Path home;
    /** The user running the tests: their commands run as they are, in their own home. */
    private final boolean self;

    private TestUser(int uid, boolean self) {
        this.uid = uid;
        this.self = self;
        this.home = self ? Path.of(System.getProperty("user.home")) : Path.of("/tmp/workbook-test-user-" + uid);
    }

    /** Whether this user runs the tests themselves (then a stage run as them needs no copy of its own). */
    boolean isSelf() {
        return self;
    }

    public int uid() {
        return uid;
    }

    public Path home() {
        return ensureHome();
    }

    /** The root of the user's copy of the workbook. */
    public Path workbook() {
        return ensureHome().resolve("workbook");
    }

    /** The command, run as this user with its home. */
    List<String> wrap(List<String> command) {
        if (self) return command;
        ensureHome();
        // Java takes its home from the password database, not $HOME: JBang is told where to cache.
        List<String> wrapped = new ArrayList<>(List.of("env", "HOME=" + home, "USER=learner",
                "JBANG_DIR=" + home.resolve(".jbang"), "JBANG_REPO=" + home.resolve(".m2/repository"),
                "setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    /**
     * The user's own copy of a workbook file or directory (a stage's folder), next to a
     * root-owned copy of the rootfs; returns the copy's root.
     */
    Path copyOf(String relative) {
        return copyOf(Stage.WORKBOOK.resolve(relative), relative);
    }

    /** The same, for a file or directory from anywhere, placed at {@code relative} in the user's copy. */
    Path copyOf(Path source, String relative) {
        Path workbook = workbook();
        Path target = workbook.resolve(relative);
        try {
            for (Path dir = target.getParent(); !Files.exists(dir); dir = dir.getParent()) {
                Files.createDirectories(dir);
                own(dir);
            }
            try (Stream<Path> files = Files.walk(source)) {
                for (Path file : files.toList()) {
                    Path copy = target.resolve(source.relativize(file).toString());
                    if (Files.isDirectory(file)) Files.createDirectories(copy);
                    else Files.copy(file, copy, StandardCopyOption.REPLACE_EXISTING);
                    own(copy);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!Files.exists(workbook.resolve("rootfs")))
            Host.run("cp", "-a", Stage.ROOTFS.toString(), workbook.resolve("rootfs").toString());
        return workbook;
    }

    /**
     * Copies of workbook files and directories in the user's copy of the workbook, with their
     * times kept (scripts/check compares them), made theirs; returns the copy's root.
     */
    Path copyKeepingTimes(String... relatives) {
        Path workbook = copyOf("README.adoc"); // the copy, and its rootfs
        for (String relative : relatives) {
            Path target = workbook.resolve(relative);
            Host.run("mkdir", "-p", target.getParent().toString());
            Host.run("rm", "-rf", target.toString());
            Stage.Result r = Host.run("cp", "-a", Stage.WORKBOOK.resolve(relative).toString(), target.toString());
            if (r.exit() != 0) throw new IllegalStateException(r.toString());
            for (Path p = target; !p.equals(workbook); p = p.getParent()) Host.run("chown", "-h", uid + ":" + uid, p.toString());
            Host.run("chown", "-R", "-h", uid + ":" + uid, target.toString());
        }
        return workbook;
    }

    /** Runs one of the workbook's scripts as this user, from their copy of the workbook. */
    public Stage.Result runScript(String script, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", script));
        command.addAll(List.of(args));
        return Host.run(copyOf(script), java.time.Duration.ofSeconds(60), wrap(command));
    }

    /** A directory of the test's, made the user's. */
    public Path owns(Path dir) {
        if (self) return dir; // theirs already
        try {
            own(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /**
     * The home is made by the first JVM that needs it, which removes it when it ends; the
     * grader's JVMs, which the tests start, use the same one. A home whose maker is gone was
     * left by a run killed before its end: it starts over.
     */
    private synchronized Path ensureHome() {
        if (self) return home;
        Path maker = home.resolve(".made-by-pid");
        if (Files.isDirectory(home) && !makerIsAlive(maker)) removeHome();
        if (!Files.isDirectory(home)) {
            try {
                Files.createDirectories(home);
                own(home);
                Files.createDirectories(home.resolve("workbook"));
                own(home.resolve("workbook"));
                Files.writeString(maker, Long.toString(ProcessHandle.current().pid()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            java.lang.Runtime.getRuntime().addShutdownHook(new Thread(this::removeHome));
        }
        return home;
    }

    private static boolean makerIsAlive(Path maker) {
        try {
            return ProcessHandle.of(Long.parseLong(Files.readString(maker).strip())).isPresent();
        } catch (IOException | NumberFormatException e) {
            return false;
        }
    }

    private void own(Path file) throws IOException {
        Files.setAttribute(file, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(file, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
    }

    private void removeHome() {
        try (Stream<Path> files = Files.walk(home)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // nothing to remove
        }
    }
}
