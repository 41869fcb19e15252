package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A hostile command: what a process inside a container could reach of the host, checked from
 * the host. Each defence is also shown missing: a copy of a stage without it lets the attack
 * through, so these tests can fail.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class HostileCommandTest {
    static final Duration START = Duration.ofSeconds(60);

    static Stream<String> stages() {
        return BadOptionsTest.ALL.stream();
    }

    static Stream<String> stagesWithExec() {
        return stages().filter(s -> !s.startsWith("01"));
    }

    static Stream<String> stagesWithCgroups() {
        return stages().filter(s -> s.compareTo("04") >= 0);
    }

    /**
     * runc's CVE-2024-21626: a descriptor of the runtime's left open in the container, which the
     * command reopens through /proc/self/fd/N, beyond its root. The command's descriptors, read
     * in /proc/PID/fd on the host, are stdin, stdout and stderr, and none of the JVMs' files.
     */
    @ParameterizedTest
    @MethodSource("stages")
    void theCommandInheritsNoOpenFileOfTheStages(String stage) {
        assertEquals(Set.of("0", "1", "2"), openFilesOfTheCommand(Stage.of(stage), stage));
    }

    /** The same for a command that exec starts in a running container. */
    @ParameterizedTest
    @MethodSource("stagesWithExec")
    void aCommandStartedByExecInheritsNoOpenFile(String stage) {
        try (NetworkLab lab = NetworkLab.create();
             Stage.Running container = lab.stage(Stage.of(stage)).start(quietRun(stage, "/bin/sleep", "60"))) {
            long init = commandAmong(container, "/bin/sleep 60"); // init, once it became the command
            try (Stage.Running exec = Stage.of(stage).start(execArgs(stage, init, "/bin/sleep", "61"))) {
                long command = commandAmong(exec, "/bin/sleep 61");
                assertEquals(Set.of("0", "1", "2"), openFiles(command), () -> "exec's command holds more:\n" + links(command));
            }
        }
    }

    /** Without the defence (a copy of stage 02 that marks nothing close-on-exec), the command holds the JVMs' jars. */
    @Test
    void withoutTheDefenceTheCommandHoldsTheJvmsJars(@TempDir Path copies) throws IOException {
        Path copy = copies.resolve("02-uts-pid");
        copyStage("02-uts-pid", copy);
        remove(copy.resolve("Init.java"), "Descriptors.closeOnExecAbove2();");
        remove(copy.resolve("Parent.java"), "Descriptors.closeFrom(actions, INIT_PIPE_FD + 1);");
        System.setProperty("workbook.stage.02-uts-pid", copy.toString());
        try {
            Set<String> open = openFilesOfTheCommand(Stage.of("02-uts-pid"), "02-uts-pid");
            assertTrue(open.size() > 3, "the copy without the defence leaks nothing: " + open);
        } finally {
            System.clearProperty("workbook.stage.02-uts-pid");
        }
    }

    /**
     * A container may make a cgroup under its own and move itself in; exec then reads that name
     * in /proc/PID/cgroup. A name holding shell syntax must run nothing on the host: here, a file
     * that "x;cd;touch NAME;" would make in the home of exec's shell.
     */
    @ParameterizedTest
    @MethodSource("stagesWithCgroups")
    void aCgroupNameTheContainerChoseRunsNothingOnTheHost(String stage) {
        String marker = "workbook-hostile-" + ProcessHandle.current().pid();
        Path made = Path.of("/root", marker);
        try (NetworkLab lab = NetworkLab.create();
             Stage.Running container = lab.stage(Stage.of(stage)).start(quietRun(stage, "/bin/sleep", "60"))) {
            long init = commandAmong(container, "/bin/sleep 60"); // init, once it became the command
            // The container's own group in one v1 hierarchy (or v2), as /proc/PID/cgroup names it.
            String line = Host.cgroupsOf(init).stream().filter(l -> l.contains("/workbook/")).findFirst().orElseThrow();
            String[] fields = line.split(":", 3);
            String controller = fields[1].isEmpty() ? "unified" : fields[1].split(",")[0];
            Path group = Path.of("/sys/fs/cgroup", controller.equals("unified") && !Files.isDirectory(Path.of("/sys/fs/cgroup/unified")) ? "" : controller)
                    .resolve(fields[2].substring(1));
            Path evil = group.resolve("x;cd;touch " + marker + ";");
            try {
                Files.createDirectory(evil);
                Files.writeString(evil.resolve("cgroup.procs"), Long.toString(init));
                Stage.Result exec = Stage.of(stage).run(execArgs(stage, init, "/bin/true"));
                assertFalse(Files.exists(made), "the cgroup's name ran as a shell command on the host: " + made + " exists");
                assertEquals(0, exec.exit(), exec::toString);
            } finally {
                Files.writeString(group.resolve("cgroup.procs"), Long.toString(init));
                Files.deleteIfExists(evil);
                Files.deleteIfExists(made);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * An image is made elsewhere, by anyone: stage 08 reads its config's diff_ids as the names
     * of its layers. One that says "sha256:/etc" is refused in one line, exit 125, before
     * anything is unpacked or mounted, and the host's /etc/shadow is not read.
     */
    @Test
    void anImageWhoseDiffIdIsAPathIsRefused(@TempDir Path store) throws IOException {
        Stage stage = Stage.of("08-overlay-image");
        Stage.Result built = stage.run("--quiet", "build", "--store", store.toString(), "--tag", "busybox");
        assertEquals(0, built.exit(), built::toString);
        Path blobs = store.resolve("oci/blobs/sha256"), index = store.resolve("oci/index.json");
        String manifestDigest = firstDigest(Files.readString(index));
        String manifest = Files.readString(blobs.resolve(manifestDigest.substring(7)));
        String configDigest = firstDigest(manifest); // the config comes first
        String config = Files.readString(blobs.resolve(configDigest.substring(7)));
        String evilConfig = config.replaceFirst("\"diff_ids\":\\[\"sha256:[0-9a-f]{64}\"", "\"diff_ids\":[\"sha256:/etc\"");
        assertNotEquals(config, evilConfig, "the config names its layer: " + config);
        String evilManifest = repoint(manifest, configDigest, writeBlob(blobs, evilConfig), evilConfig.length());
        Files.writeString(index, repoint(Files.readString(index), manifestDigest, writeBlob(blobs, evilManifest), evilManifest.length()));

        Stage.Result r = stage.run("--quiet", "--store", store.toString(), "--image", "busybox", "--", "/bin/cat", "/etc/shadow");
        assertEquals(125, r.exit(), r::toString);
        assertTrue(r.err().contains("not a sha256 digest: sha256:/etc"), r::toString);
        assertEquals(1, r.err().strip().lines().count(), () -> "one line:\n" + r);
        assertFalse(r.out().contains("root:"), "the host's /etc/shadow was read:\n" + r);
        assertFalse(Files.exists(store.resolve("layers/sha256/etc")), "a layer was made");
    }

    // ---------------------------------------------------------------- helpers

    static String firstDigest(String json) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("sha256:[0-9a-f]{64}").matcher(json);
        assertTrue(m.find(), json);
        return m.group();
    }

    /** Writes a blob under its own digest, as the store does, and returns the digest. */
    static String writeBlob(Path blobs, String text) throws IOException {
        try {
            byte[] hash = java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes());
            String hex = java.util.HexFormat.of().formatHex(hash);
            Files.writeString(blobs.resolve(hex), text);
            return "sha256:" + hex;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The document, with a descriptor's digest and size changed to another blob's. */
    static String repoint(String json, String from, String to, long size) {
        String changed = json.replaceFirst("\"digest\":\"" + from + "\",\"size\":\\d+", "\"digest\":\"" + to + "\",\"size\":" + size);
        assertNotEquals(json, changed, "no descriptor of " + from + " in " + json);
        return changed;
    }

    /** Runs the stage with a command that waits, and returns the command's open descriptors. */
    static Set<String> openFilesOfTheCommand(Stage stage, String name) {
        try (NetworkLab lab = NetworkLab.create(); Stage.Running run = lab.stage(stage).start(quietRun(name, "/bin/sleep", "60"))) {
            long command = commandAmong(run, "/bin/sleep 60");
            Set<String> open = openFiles(command);
            if (!open.equals(Set.of("0", "1", "2"))) System.err.println(name + ": the command holds\n" + links(command));
            return open;
        }
    }

    static String[] quietRun(String stage, String... command) {
        List<String> args = new ArrayList<>(List.of("--quiet"));
        if (stage.startsWith("01")) args.add("--rootfs"); // stage 01's jail is bash alone; the rootfs has busybox
        args.add("--");
        args.addAll(List.of(command));
        return args.toArray(String[]::new);
    }

    /** exec's arguments; from stage 07 on, exec into a container with fewer capabilities takes --privileged. */
    static String[] execArgs(String stage, long init, String... command) {
        List<String> args = new ArrayList<>(List.of("exec", "--quiet"));
        if (stage.compareTo("07") >= 0) args.add("--privileged");
        args.add(Long.toString(init));
        args.add("--");
        args.addAll(List.of(command));
        return args.toArray(String[]::new);
    }

    /** The PID of the process among the stage's descendants whose command line is this, once it runs. */
    static long commandAmong(Stage.Running run, String commandLine) {
        long end = System.nanoTime() + START.toNanos();
        while (System.nanoTime() < end) {
            Optional<ProcessHandle> found = run.process().descendants().filter(p -> commandLine.equals(commandLine(p.pid()))).findFirst();
            if (found.isPresent()) return found.get().pid();
            if (!run.process().isAlive()) break;
            Host.pause(50);
        }
        throw new AssertionError("no \"" + commandLine + "\" started:\n" + run.output());
    }

    static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"))).replace('\0', ' ').strip();
        } catch (IOException e) {
            return "";
        }
    }

    static Set<String> openFiles(long pid) {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/" + pid + "/fd", e);
        }
    }

    static String links(long pid) {
        return Host.run("ls", "-l", "/proc/" + pid + "/fd").out();
    }

    static void copyStage(String stage, Path copy) throws IOException {
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(Stage.WORKBOOK.resolve("stages").resolve(stage))) {
            for (Path file : files.toList()) Files.copy(file, copy.resolve(file.getFileName()));
        }
    }

    static void remove(Path file, String line) throws IOException {
        String text = Files.readString(file);
        assertTrue(text.contains(line), () -> file + " holds " + line);
        Files.writeString(file, text.replace(line, ""));
    }
}
