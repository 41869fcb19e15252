package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs a stage the way a learner does: {@code jbang stages/NN-name/Main.java ARGS}, as a
 * separate process from the workbook's root, with a time limit.
 */
public final class Stage {
    public static final Path WORKBOOK = Path.of("").toAbsolutePath();
    public static final Path ROOTFS = WORKBOOK.resolve("rootfs");
    private static final Duration DEFAULT_LIMIT = Duration.ofSeconds(90);
    private static final Set<String> BUILT = ConcurrentHashMap.newKeySet();

    private final String name;
    private final TestUser user;
    private final boolean asRoot;
    private final boolean mergeOutput;
    private final Duration limit;
    private final Map<String, String> environment;
    private final List<String> wrapper;

    private Stage(String name, TestUser user, boolean asRoot, boolean mergeOutput, Duration limit, Map<String, String> environment, List<String> wrapper) {
        this.name = name;
        this.user = user;
        this.asRoot = asRoot;
        this.mergeOutput = mergeOutput;
        this.limit = limit;
        this.environment = Map.copyOf(environment);
        this.wrapper = List.copyOf(wrapper);
    }

    /**
     * A stage by its directory name, e.g. {@code "01-chroot"}: the workbook's own
     * {@code stages/01-chroot/}, or the folder that the system property
     * {@code workbook.stage.01-chroot} names (how scripts/check grades a learner's copy).
     */
    public static Stage of(String name) {
        if (!Files.isRegularFile(folderOf(name).resolve("Main.java")))
            throw new IllegalArgumentException("no stage " + name + " in " + folderOf(name));
        return new Stage(name, null, false, false, DEFAULT_LIMIT, Map.of(), List.of());
    }

    /** The lesson the running test proves (see {@link Lesson}), or null. */
    static volatile String lesson;

    /**
     * Where the stage's files are: the workbook's own folder, or the one being graded: the
     * copy made for the running test's lesson ({@code workbook.stage.NN-name@LESSON}), else
     * the learner's folder ({@code workbook.stage.NN-name}).
     */
    static Path folderOf(String name) {
        String graded = lesson == null ? null : System.getProperty("workbook.stage." + name + "@" + lesson);
        if (graded == null) graded = System.getProperty("workbook.stage." + name);
        return graded != null ? Path.of(graded).toAbsolutePath() : WORKBOOK.resolve("stages").resolve(name);
    }

    /** Runs it as this unprivileged user instead of root (from the user's own copy of the stage). */
    public Stage as(TestUser user) {
        if (user.isSelf()) return this; // the user running the tests: the stage as it is
        return new Stage(name, user, false, mergeOutput, limit, environment, wrapper);
    }

    /**
     * Runs it as root, but from the user's copy of the workbook: under /tmp, where a remapped
     * root (uid 100000 on the host) can reach the rootfs wherever the workbook itself lives.
     */
    public Stage asRootFromCopyOf(TestUser user) {
        return new Stage(name, user, true, mergeOutput, limit, environment, wrapper);
    }

    /** Runs it under one more command, inside the wrapper it has already. */
    public Stage alsoWrappedIn(String... command) {
        List<String> more = new ArrayList<>(wrapper);
        more.addAll(List.of(command));
        return new Stage(name, user, asRoot, mergeOutput, limit, environment, more);
    }

    /** Stdout and stderr in one stream, in the order a terminal shows them. */
    public Stage mergeOutput() {
        return new Stage(name, user, asRoot, true, limit, environment, wrapper);
    }

    public Stage limit(Duration limit) {
        return new Stage(name, user, asRoot, mergeOutput, limit, environment, wrapper);
    }

    public Stage env(String key, String value) {
        Map<String, String> more = new HashMap<>(environment);
        more.put(key, value);
        return new Stage(name, user, asRoot, mergeOutput, limit, more, wrapper);
    }

    /** Runs it under another command, e.g. nsenter into a network namespace. */
    public Stage wrappedIn(String... command) {
        return new Stage(name, user, asRoot, mergeOutput, limit, environment, List.of(command));
    }

    /** The stage's Main.java, as the learner types it: relative to the workbook where it can be. */
    public String source() {
        Path main = folderOf(name).resolve("Main.java");
        return main.startsWith(WORKBOOK) ? WORKBOOK.relativize(main).toString() : main.toString();
    }

    /** In a user's copy of the workbook, the stage is always at stages/NN-name. */
    private String sourceInCopy() {
        return "stages/" + name + "/Main.java";
    }

    /** Runs to the end and returns what it printed and its exit status. */
    public Result run(String... args) {
        return start(args).finish(limit);
    }

    /** Starts it in the background; the caller must {@link Running#finish} or {@link Running#stop} it. */
    public Running start(String... args) {
        build();
        List<String> stage = new ArrayList<>(List.of("jbang", user == null ? source() : sourceInCopy()));
        stage.addAll(List.of(args));
        Path dir = WORKBOOK;
        if (user != null) {
            dir = user.copyOf(folderOf(name), "stages/" + name);
            if (!asRoot) stage = user.wrap(stage);
        }
        List<String> command = new ArrayList<>(wrapper);
        command.addAll(stage);
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(mergeOutput);
        pb.environment().putAll(environment);
        try {
            return new Running(pb.start(), mergeOutput);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start jbang: run scripts/setup", e);
        }
    }

    /** Compiles the stage once, so that JBang's own build messages never mix into a run's output. */
    private void build() {
        String key = folderOf(name) + (user == null ? "" : "@" + user.uid()) + (asRoot ? " as root" : "");
        if (BUILT.contains(key)) return;
        List<String> command = new ArrayList<>(List.of("jbang", "build", user == null ? source() : sourceInCopy()));
        Path dir = WORKBOOK;
        if (user != null) {
            dir = user.copyOf(folderOf(name), "stages/" + name);
            if (!asRoot) command = user.wrap(command);
        }
        Result r = Host.run(dir, Duration.ofMinutes(5), command);
        if (r.exit() != 0) throw new IllegalStateException("jbang build " + source() + " failed:\n" + r.all());
        BUILT.add(key);
    }

    public record Result(int exit, String out, String err) {
        public String all() {
            return out + err;
        }

        public List<String> outLines() {
            return out.lines().toList();
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** A stage running in the background; closing it ends it if it still runs. */
    public static final class Running implements AutoCloseable {
        private final Process process;
        private final StreamCollector out, err;

        Running(Process process, boolean merged) {
            this.process = process;
            NothingLeftBehind.Ours.started(process.pid());
            this.out = new StreamCollector(process.getInputStream());
            this.err = merged ? StreamCollector.EMPTY : new StreamCollector(process.getErrorStream());
        }

        /** The PID of the stage's own JVM (jbang's launcher execs it, so the PID stays). */
        public long pid() {
            return process.pid();
        }

        public Process process() {
            return process;
        }

        /** What it has printed so far. */
        public String output() {
            return out.text() + err.text();
        }

        /**
         * Waits until the command inside has printed the text on standard output (not the
         * narration, which repeats the command line), or fails after the limit.
         */
        public void awaitOutput(String text, Duration limit) {
            long end = System.nanoTime() + limit.toNanos();
            while (!out.text().contains(text)) {
                if (!process.isAlive() && !out.text().contains(text))
                    throw new AssertionError("the stage ended before printing \"" + text + "\":\n" + output());
                if (System.nanoTime() > end) {
                    stop();
                    throw new AssertionError("no \"" + text + "\" after " + limit + ":\n" + output());
                }
                Host.pause(50);
            }
        }

        /**
         * The host PID of the first process the stage started (for stages 02 on: the
         * container's init, which becomes the command).
         */
        public long child(Duration limit) {
            long end = System.nanoTime() + limit.toNanos();
            while (System.nanoTime() < end) {
                Optional<ProcessHandle> child = process.children().findFirst();
                if (child.isPresent()) return child.get().pid();
                if (!process.isAlive()) break;
                Host.pause(50);
            }
            throw new AssertionError("the stage started no process:\n" + output());
        }

        /**
         * The host PID of the container's init: the first process the stage started that is in
         * a PID namespace of its own (stage 06 starts it through unshare, which stays outside).
         */
        public long container(Duration limit) {
            String hostPidNamespace = Host.namespace(pid(), "pid");
            long end = System.nanoTime() + limit.toNanos();
            while (System.nanoTime() < end) {
                Optional<ProcessHandle> init = process.descendants()
                        .filter(p -> !hostPidNamespace.equals(Host.namespaceIfAlive(p.pid(), "pid"))).findFirst();
                if (init.isPresent()) return init.get().pid();
                if (!process.isAlive()) break;
                Host.pause(50);
            }
            throw new AssertionError("the stage started no container:\n" + output());
        }

        /** Sends a signal to the stage's own JVM, by its PID. */
        public void signal(String name) {
            Host.run("kill", "-" + name, Long.toString(pid()));
        }

        /** Waits for the end; past the limit, kills what it started and fails. */
        public Result finish(Duration limit) {
            try {
                if (!process.waitFor(limit.toSeconds(), TimeUnit.SECONDS)) {
                    stop();
                    throw new AssertionError("still running after " + limit + ", killed:\n" + output());
                }
            } catch (InterruptedException e) {
                stop();
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            return new Result(process.exitValue(), out.finish(), err.finish());
        }

        /** Ends it as a user would: SIGTERM to the stage, then wait for it to clean up. */
        public Result end() {
            signal("TERM");
            return finish(Duration.ofSeconds(30));
        }

        /** For try-with-resources: a test that failed half-way still ends what it started. */
        @Override
        public void close() {
            if (!process.isAlive()) return;
            signal("TERM");
            try {
                if (process.waitFor(30, TimeUnit.SECONDS)) return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            stop();
        }

        /** Kills the stage and everything it started, by their PIDs: a crash, or a test that went wrong. */
        public void stop() {
            List<ProcessHandle> tree = new ArrayList<>(process.descendants().toList());
            tree.add(process.toHandle());
            tree.forEach(ProcessHandle::destroyForcibly);
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
