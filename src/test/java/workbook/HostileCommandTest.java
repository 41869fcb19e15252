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
import static workbook.Failures.assertStageFailed;

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
             Stage.Running container = lab.stage(Stage.of(stage)).start(quietRun(stage, "/bin/sleep", "600"))) {
            long init = commandAmong(container, "/bin/sleep 600"); // init, once it became the command
            try (Stage.Running exec = Stage.of(stage).start(execArgs(stage, init, "/bin/sleep", "601"))) {
                long command = commandAmong(exec, "/bin/sleep 601");
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
             Stage.Running container = lab.stage(Stage.of(stage)).start(quietRun(stage, "/bin/sleep", "600"))) {
            long init = commandAmong(container, "/bin/sleep 600"); // init, once it became the command
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
     * exec and pause read a container's groups from /proc/PID/cgroup, one line per hierarchy.
     * A name with a newline would forge a line: ".../x\nID:CTRL:" + "/workbook/OTHER" naming
     * another container's group. They trust the kernel to refuse such a name (cgroup_mkdir
     * returns EINVAL, so that the file stays parsable); this proves it does here.
     */
    @Test
    void theKernelRefusesAGroupNameThatWouldForgeALineOfProcPidCgroup() {
        try (Stage.Running container = Stage.of("04-cgroup-cpu").start(quietRun("04-cgroup-cpu", "/bin/sleep", "600"))) {
            long init = commandAmong(container, "/bin/sleep 600");
            String line = Host.cgroupsOf(init).stream().filter(l -> l.contains("/workbook/")).findFirst().orElseThrow();
            String[] fields = line.split(":", 3);
            Path group = Host.cgroupDirectory(init, fields[1].isEmpty() ? "cpu" : fields[1].split(",")[0]);
            Path forged = group.resolve("x\n" + fields[0] + ":" + fields[1] + ":");
            IOException refused = assertThrows(IOException.class, () -> Files.createDirectory(forged));
            assertTrue(refused.getMessage().endsWith("Invalid argument"), refused::toString);
            assertFalse(Files.exists(forged));
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

    /**
     * A layer whose tar names one path three times (a directory, then a file, then a symbolic
     * link to the host's /etc/shadow) unpacks as tar would: the last entry wins. No stack trace,
     * and the directory's mode, set at the end, is not set through the link on the host's file.
     */
    @Test
    void aLayerThatNamesAPathThriceKeepsTheLastEntry(@TempDir Path store, @TempDir Path parts) throws IOException {
        Stage stage = Stage.of("08-overlay-image");
        Stage.Result built = stage.run("--quiet", "build", "--store", store.toString(), "--tag", "busybox");
        assertEquals(0, built.exit(), built::toString);
        Files.createDirectories(parts.resolve("1/a"));
        Files.writeString(Files.createDirectories(parts.resolve("2")).resolve("a"), "a file\n");
        Files.createSymbolicLink(Files.createDirectories(parts.resolve("3")).resolve("a"), Path.of("/etc/shadow"));
        Host.run(Stage.WORKBOOK, Duration.ofMinutes(1), List.of("chmod", "0777", parts.resolve("1/a").toString()));
        String shadowMode = Host.run("stat", "-c", "%a", "/etc/shadow").out().strip();
        addLayer(store, parts, "tar --format=ustar -cf - -C 1 a -C ../2 a -C ../3 a");

        Stage.Result r = stage.run("--quiet", "--store", store.toString(), "--image", "busybox", "--", "/bin/readlink", "/a");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("/etc/shadow", r.out().strip(), r::toString);
        assertFalse(r.err().contains("Exception"), r::toString);
        assertEquals(shadowMode, Host.run("stat", "-c", "%a", "/etc/shadow").out().strip(), "the host's /etc/shadow changed mode");
    }

    /**
     * A gzip bomb: a layer of a megabyte that inflates into a gigabyte of zeros, in a store on
     * a disk of 512 MiB. It is refused in one line, exit 125, before a byte is written: the
     * disk holds what it held, and no layer, whole or partial, is left.
     */
    @Test
    void aLayerLargerThanTheDiskIsRefusedBeforeItIsWritten(@TempDir Path disk, @TempDir Path parts) throws IOException {
        Stage stage = Stage.of("08-overlay-image");
        assertEquals(0, Host.run("mount", "-t", "tmpfs", "-o", "size=512m", "workbook-test-disk", disk.toString()).exit());
        try {
            Path store = disk.resolve("store");
            Stage.Result built = stage.run("--quiet", "build", "--store", store.toString(), "--tag", "busybox");
            assertEquals(0, built.exit(), built::toString);
            Stage.Result base = stage.run("--quiet", "--store", store.toString(), "--image", "busybox", "--", "/bin/true"); // the base layer, unpacked
            assertEquals(0, base.exit(), base::toString);
            assertEquals(0, Host.run("truncate", "-s", "1G", parts.resolve("zeros").toString()).exit()); // a sparse file: no disk used
            addLayer(store, parts, "tar --format=ustar -cf - zeros");
            long used = usedBytes(disk);

            Stage.Result r = stage.run("--quiet", "--store", store.toString(), "--image", "busybox", "--", "/bin/true");
            assertEquals(125, r.exit(), r::toString);
            assertTrue(r.err().contains("unpacks to 1024 MiB") && r.err().contains("refused before a byte was written"), r::toString);
            assertEquals(1, r.err().strip().lines().count(), () -> "one line:\n" + r);
            assertTrue(usedBytes(disk) - used < (1 << 20), () -> "the layer was written: " + (usedBytes(disk) - used) + " bytes more on the disk");
            try (Stream<Path> layers = Files.list(store.resolve("layers/sha256"))) {
                assertEquals(1, layers.count(), "the base layer alone is unpacked");
            }
        } finally {
            Host.run("umount", disk.toString());
        }
    }

    // ---------------------------------------------------------------- helpers

    /**
     * Puts a layer on top of the image busybox in STORE: the tar that SCRIPT writes (run in DIR)
     * is digested for the config's diff_ids, gzip'd into a blob, and named in a new manifest.
     */
    static void addLayer(Path store, Path dir, String script) throws IOException {
        Stage.Result tar = Host.run(dir, Duration.ofMinutes(2), List.of("sh", "-c",
                script + " | sha256sum && " + script + " | gzip -n > layer.tar.gz && sha256sum layer.tar.gz && stat -c %s layer.tar.gz"));
        assertEquals(0, tar.exit(), tar::toString);
        List<String> sums = tar.outLines();
        String diffId = "sha256:" + sums.get(0).split(" ")[0], blob = "sha256:" + sums.get(1).split(" ")[0];
        Path blobs = store.resolve("oci/blobs/sha256"), index = store.resolve("oci/index.json");
        Files.move(dir.resolve("layer.tar.gz"), blobs.resolve(blob.substring(7)));

        String manifestDigest = firstDigest(Files.readString(index));
        String manifest = Files.readString(blobs.resolve(manifestDigest.substring(7)));
        String configDigest = firstDigest(manifest); // the config comes first
        String config = Files.readString(blobs.resolve(configDigest.substring(7)));
        String newConfig = config.replaceFirst("(\"diff_ids\":\\[\"sha256:[0-9a-f]{64}\")", "$1,\"" + diffId + "\"");
        assertNotEquals(config, newConfig, config);
        String newManifest = repoint(manifest, configDigest, writeBlob(blobs, newConfig), newConfig.length())
                .replaceFirst("(\"layers\":\\[\\{[^}]*\\})", "$1,{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\""
                        + blob + "\",\"size\":" + sums.get(2).strip() + "}");
        Files.writeString(index, repoint(Files.readString(index), manifestDigest, writeBlob(blobs, newManifest), newManifest.length()));
    }

    static long usedBytes(Path mount) {
        try {
            java.nio.file.FileStore disk = Files.getFileStore(mount);
            return disk.getTotalSpace() - disk.getUsableSpace();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

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
    /**
     * mount(2) is refused, but the kernel has had another way to mount since 5.2: fsopen,
     * fsconfig, fsmount and move_mount put a new tmpfs in place, and open_tree with move_mount
     * a bind mount; io_uring runs calls through rings that no filter sees. A probe tries them
     * from a container that holds CAP_SYS_ADMIN: each call answers EPERM, and the host sees
     * nothing mounted in the container. With the filter off, the same probe mounts both.
     */
    @ParameterizedTest
    @MethodSource("stagesWithTheFilter")
    void theFilterRefusesTheNewMountApiAndIoUring(String stage) {
        Probe probe = probe(stage, "--cap-add", "SYS_ADMIN");
        assertEquals(List.of(), probe.mounted(), () -> "mounted despite the filter:\n" + probe.output());
        for (String call : List.of("fsopen(\"tmpfs\")", "open_tree(\"/bin\", OPEN_TREE_CLONE)", "fspick", "mount_setattr", "open_tree_attr", "io_uring_setup"))
            assertTrue(probe.output().contains(call + ": EPERM"), () -> call + " is refused with EPERM:\n" + probe.output());
    }

    /** Without the defence (the filter off), the probe mounts a tmpfs and a bind mount, which the host sees. */
    @Test
    void withoutTheFilterTheProbeMounts() {
        Probe probe = probe("07-caps-seccomp", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined");
        assertEquals(List.of("tmpfs on /mnt", "/bin on /tmp"), probe.mounted(), probe::output);
        if (Host.read(Path.of("/proc/sys/kernel/io_uring_disabled")).strip().equals("0"))
            assertTrue(probe.output().contains("io_uring_setup: ok"), probe::output);
    }

    /**
     * /proc/sys is the host kernel's settings, the same file in every namespace: a root inside
     * that is root outside (--uid-map 0:0:1, as the learner may ask) could set them for the
     * whole machine. From 07
     * on, they are read-only inside, and /proc/kcore, /proc/keys and the like are masked, as
     * Docker does; the host's mountinfo of the command shows it. (The write puts back the value
     * it read, so that it changes nothing where it gets through.)
     */
    @ParameterizedTest
    @MethodSource("stagesWithTheFilter")
    void theHostsKernelSettingsAreReadOnlyInside(String stage) {
        HostSetting tried = writeBackAHostSetting(stage);
        assertEquals("refused", tried.result(), tried::mountinfo);
        assertTrue(tried.mountinfo().lines().anyMatch(l -> l.split(" ")[4].equals("/proc/sys") && l.split(" ")[5].startsWith("ro")),
                () -> "/proc/sys is mounted read-only:\n" + tried.mountinfo());
        for (String masked : List.of("/proc/kcore", "/proc/keys", "/proc/timer_list"))
            if (Files.exists(Path.of(masked))) // /proc/kcore is there only if the kernel was built with it
                assertTrue(tried.mountinfo().lines().anyMatch(l -> l.split(" ")[4].equals(masked)), () -> masked + " is masked:\n" + tried.mountinfo());
    }

    /** Without the defence (a copy of stage 07 that hides nothing), the same write gets through. */
    @Test
    void withoutTheDefenceTheHostsSettingIsWritten(@TempDir Path copies) throws IOException {
        Path copy = copies.resolve("07-caps-seccomp");
        copyStage("07-caps-seccomp", copy);
        remove(copy.resolve("Main.java"), "hideHostWideFiles(root);");
        System.setProperty("workbook.stage.07-caps-seccomp", copy.toString());
        try {
            assertEquals("wrote", writeBackAHostSetting("07-caps-seccomp").result());
        } finally {
            System.clearProperty("workbook.stage.07-caps-seccomp");
        }
    }

    record HostSetting(String result, String mountinfo) {
    }

    static HostSetting writeBackAHostSetting(String stage) {
        String setting = "/proc/sys/kernel/printk_delay";
        String before = Host.read(Path.of(setting)).strip();
        String script = "v=$(cat " + setting + "); if (echo \"$v\" > " + setting + ") 2>/dev/null; then echo result: wrote; else echo result: refused; fi; exec sleep 600";
        try (NetworkLab lab = NetworkLab.create(); Stage.Running run = lab.stage(Stage.of(stage)).start("--quiet",
                "--uid-map", "0:0:1", "--gid-map", "0:0:1", "--", "/bin/sh", "-c", script)) {
            run.awaitOutput("result: ", START);
            long command = commandAmong(run, "sleep 600");
            String result = run.output().replaceAll("(?s).*result: (\\w+).*", "$1");
            assertEquals(before, Host.read(Path.of(setting)).strip(), "the host's setting changed");
            return new HostSetting(result, Host.read(Path.of("/proc/" + command + "/mountinfo")));
        }
    }

    static Stream<String> stagesWithTheSharedRootfs() {
        return Stream.of("06-user-ns", "07-caps-seccomp");
    }

    /**
     * In 06 and 07 the container writes in the rootfs itself, which other users can reach (a
     * remapped root must, too). With sudo and no --uid-map, root inside is uid 100000 outside:
     * the image's files are not its own, and a copy of a program it makes setuid wherever it
     * can write (the rootfs's /tmp) runs, for another user, as 100000, not as root.
     */
    @ParameterizedTest
    @MethodSource("stagesWithTheSharedRootfs")
    void aSetuidProgramMadeInTheRootfsGivesAnotherUserNothing(String stage, @TempDir Path tmp) throws IOException {
        List<String> euids = setuidFromTheRootfs(stage, tmp);
        // One program: /bin is not the container's to write, /tmp is; and it runs as uid 100000.
        assertEquals(List.of("100000"), euids, "what the other user's runs of the setuid programs printed");
    }

    /** Without the defence (a copy of stage 07 whose root maps to the host's root), another user runs it as root. */
    @Test
    void withoutTheRangeAnotherUserRunsTheContainersCopyAsRoot(@TempDir Path tmp, @TempDir Path copies) throws IOException {
        Path copy = copies.resolve("07-caps-seccomp");
        copyStage("07-caps-seccomp", copy);
        replace(copy.resolve("IdMaps.java"), "rootless ? new long[]{0, uid, 1} : RANGE_FOR_ROOT", "new long[]{0, uid, 1}");
        System.setProperty("workbook.stage.07-caps-seccomp", copy.toString());
        try {
            assertTrue(setuidFromTheRootfs("07-caps-seccomp", tmp).contains("0"));
        } finally {
            System.clearProperty("workbook.stage.07-caps-seccomp");
        }
    }

    /** What another user's run of each setuid program the container made in a copy of the rootfs printed: their euid. */
    static List<String> setuidFromTheRootfs(String stage, Path tmp) {
        Path euid = probe("euid");
        Host.run("chmod", "755", tmp.toString()); // as open as a workbook's directory is
        Path rootfs = tmp.resolve("rootfs");
        assertEquals(0, Host.run("cp", "-a", Stage.WORKBOOK.resolve("rootfs").toString(), rootfs.toString()).exit());
        String script = "for d in /bin /tmp; do cp /probe/euid $d/euid 2>/dev/null && chmod 4755 $d/euid; done; true";
        Stage.Result made;
        try (NetworkLab lab = NetworkLab.create()) {
            made = lab.stage(Stage.of(stage)).run("--quiet", "--rootfs", rootfs.toString(), "--volume", euid.getParent() + ":/probe",
                    "--", "/bin/sh", "-c", script);
        }
        assertEquals(0, made.exit(), made::toString);
        List<String> euids = new ArrayList<>();
        for (String program : Host.run("find", rootfs.toString(), "-type", "f", "-perm", "-4000").out().lines().toList()) {
            Stage.Result other = Host.run("setpriv", "--reuid", Integer.toString(TestUser.LEARNER.uid()), "--regid",
                    Integer.toString(TestUser.LEARNER.uid()), "--clear-groups", "/bin/sh", "-c", "exec \"$0\"", program);
            euids.add(other.exit() == 0 ? other.out().strip() : other.toString());
        }
        return euids;
    }

    /**
     * With sudo, a container's root is the host's root, and what it writes in stage 08's store
     * is root's: a copy of a program made setuid there is a setuid-root program on the host. The
     * store is root's alone (0700), so another user cannot reach it to run it.
     */
    @Test
    void aSetuidProgramMadeInsideGivesAnotherUserNothing(@TempDir Path store) {
        assertEquals("denied", setuidFromTheStore(store));
        assertEquals("700", Host.run("stat", "-c", "%a", store.toString()).out().strip());
    }

    /** Without the defence (a copy of stage 08 that leaves its store open), the other user runs it as root. */
    @Test
    void withoutTheDefenceAnotherUserRunsItAsRoot(@TempDir Path store, @TempDir Path copies) throws IOException {
        Path copy = copies.resolve("08-overlay-image");
        copyStage("08-overlay-image", copy);
        remove(copy.resolve("Store.java"), "store.closeToOthers();");
        System.setProperty("workbook.stage.08-overlay-image", copy.toString());
        try {
            assertEquals("0", setuidFromTheStore(store));
        } finally {
            System.clearProperty("workbook.stage.08-overlay-image");
        }
    }

    /** What another user gets from running, on the host, a copy of euid that a container made setuid-root in its upper directory. */
    static String setuidFromTheStore(Path store) {
        Path euid = probe("euid");
        Host.run("chmod", "755", store.toString()); // as open as a directory of the learner's would be
        Stage stage = Stage.of("08-overlay-image");
        Stage.Result built = stage.run("--quiet", "build", "--store", store.toString(), "--tag", "busybox");
        assertEquals(0, built.exit(), built::toString);
        Stage.Result made = stage.run("--quiet", "--store", store.toString(), "--image", "busybox", "--keep", "--name", "suid",
                "--volume", euid.getParent() + ":/probe", "--", "/bin/sh", "-c", "cp /probe/euid /bin/euid && chmod 4755 /bin/euid");
        try {
            assertEquals(0, made.exit(), made::toString);
            Path program = store.resolve("containers/suid/upper/bin/euid");
            assertEquals("4755 0", Host.run("stat", "-c", "%a %u", program.toString()).out().strip(), "the container made it setuid-root");
            // Every directory on the way must let the other user through; /tmp does. A shell of
            // theirs runs it: setpriv itself would find the program while it is still root.
            Stage.Result other = Host.run("setpriv", "--reuid", Integer.toString(TestUser.LEARNER.uid()), "--regid",
                    Integer.toString(TestUser.LEARNER.uid()), "--clear-groups", "/bin/sh", "-c", "exec \"$0\"", program.toString());
            return other.exit() == 0 ? other.out().strip() : other.err().contains("Permission denied") ? "denied" : other.toString();
        } finally {
            Stage.Result rm = stage.run("--quiet", "--store", store.toString(), "rm", "suid");
            assertEquals(0, rm.exit(), rm::toString);
        }
    }

    static Stream<String> stagesWithTheFilter() {
        return stages().filter(s -> s.compareTo("07") >= 0);
    }

    /** What the probe printed, and what the host saw mounted in its mount namespace. */
    record Probe(String output, List<String> mounted) {
    }

    static Probe probe(String stage, String... options) {
        Path probe = probe("mount-api-probe");
        List<String> args = new ArrayList<>(List.of("--quiet", "--volume", probe.getParent() + ":/probe"));
        args.addAll(List.of(options));
        args.addAll(List.of("--", "/probe/" + probe.getFileName()));
        try (NetworkLab lab = NetworkLab.create(); Stage.Running run = lab.stage(Stage.of(stage)).start(args.toArray(String[]::new))) {
            run.awaitOutput("probed", START);
            long pid = commandAmong(run, "/probe/" + probe.getFileName());
            // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS... - TYPE SOURCE SUPER-OPTIONS
            List<String> mounted = new ArrayList<>();
            for (String line : Host.read(Path.of("/proc/" + pid + "/mountinfo")).lines().toList()) {
                String[] f = line.split(" ");
                String type = line.split(" - ")[1].split(" ")[0];
                if (f[4].equals("/mnt") && type.equals("tmpfs")) mounted.add("tmpfs on /mnt");
                if (f[4].equals("/tmp") && f[3].endsWith("/bin")) mounted.add("/bin on /tmp");
            }
            return new Probe(run.output(), mounted);
        }
    }

    /**
     * A small C program of src/test/c/, built static once into target/probes/, a directory the
     * containers get as a volume. (The mount-API probe mounts where it runs: never on the host.)
     */
    static synchronized Path probe(String name) {
        Path built = Stage.WORKBOOK.resolve("target/probes").resolve(name);
        if (Files.isExecutable(built)) return built;
        if (!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libc.a")) && !Files.exists(Path.of("/usr/lib/aarch64-linux-gnu/libc.a"))
                || Host.run("sh", "-c", "command -v gcc").exit() != 0) {
            Stage.Result install = Host.run(Stage.WORKBOOK, Duration.ofMinutes(10), List.of("env", "DEBIAN_FRONTEND=noninteractive",
                    "apt-get", "install", "-y", "-qq", "--no-install-recommends", "gcc", "libc6-dev"));
            assertEquals(0, install.exit(), () -> "gcc and libc6-dev, to build the probes:\n" + install);
        }
        Stage.Result gcc = Host.run(Stage.WORKBOOK, Duration.ofMinutes(2), List.of("sh", "-c",
                "mkdir -p target/probes && gcc -static -O -o " + built + " src/test/c/" + name + ".c"));
        assertEquals(0, gcc.exit(), gcc::toString);
        return built;
    }

    static Set<String> openFilesOfTheCommand(Stage stage, String name) {
        try (NetworkLab lab = NetworkLab.create(); Stage.Running run = lab.stage(stage).start(quietRun(name, "/bin/sleep", "600"))) {
            long command = commandAmong(run, "/bin/sleep 600");
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

    static void replace(Path file, String text, String by) throws IOException {
        String was = Files.readString(file);
        assertTrue(was.contains(text), () -> file + " holds " + text);
        Files.writeString(file, was.replace(text, by));
    }

    static void remove(Path file, String line) throws IOException {
        String text = Files.readString(file);
        assertTrue(text.contains(line), () -> file + " holds " + line);
        Files.writeString(file, text.replace(line, ""));
    }
}
