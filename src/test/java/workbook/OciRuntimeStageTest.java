package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Stage 09 as an OCI runtime: driven by hand through runc's commands (create leaves init
 * waiting, start runs the process, kill and delete end it and remove what it made), and by
 * Podman as its --runtime, each option proven from the host (/proc/PID, the cgroup files,
 * mountinfo), the exit status passed through, nothing left behind.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class OciRuntimeStageTest {
    static final String NAME = "09-oci-runtime";
    static final String ID = "wbtest-" + ProcessHandle.current().pid();

    @TempDir Path tmp;

    Path runtime() {
        return Stage.folderOf(NAME).resolve("runtime");
    }

    /** A command with its output in files: a container's init keeps create's stdout open long after create exits. */
    static Stage.Result run(Path dir, List<String> command) throws IOException, InterruptedException {
        Path out = Files.createTempFile(dir, "out", ".txt"), err = Files.createTempFile(dir, "err", ".txt");
        Process p = new ProcessBuilder(command).directory(Stage.WORKBOOK.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(3, TimeUnit.MINUTES)) {
            p.destroyForcibly().waitFor();
            fail(command + " did not end in 3 minutes");
        }
        return new Stage.Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    Stage.Result oci(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(runtime().toString(), "--root", tmp.resolve("state").toString()));
        command.addAll(List.of(args));
        return run(tmp, command);
    }

    /** A bundle: a copy of the busybox root, and `spec`'s config.json with these args. */
    Path bundle(String args) throws IOException, InterruptedException {
        Path bundle = tmp.resolve("bundle");
        Files.createDirectories(bundle);
        assertEquals(0, Host.run("cp", "-a", Stage.ROOTFS.toString(), bundle.resolve("rootfs").toString()).exit());
        Stage.Result spec = oci("spec", "--bundle", bundle.toString());
        assertEquals(0, spec.exit(), spec::toString);
        Path config = bundle.resolve("config.json");
        String text = Files.readString(config);
        assertTrue(text.contains("\"args\": [\"sh\"]"), text);
        Files.writeString(config, text.replace("\"args\": [\"sh\"]", "\"args\": " + args));
        return bundle;
    }

    @AfterEach
    void deleteWhatATestLeft() throws IOException, InterruptedException {
        if (Files.isDirectory(tmp.resolve("state")))
            try (var ids = Files.list(tmp.resolve("state"))) {
                for (Path id : ids.toList()) oci("delete", "--force", id.getFileName().toString());
            }
    }

    static String procStatus(long pid, String field) {
        return Host.read(Path.of("/proc/" + pid + "/status")).lines().filter(l -> l.startsWith(field + ":"))
                .map(l -> l.substring(field.length() + 1).trim()).findFirst().orElseThrow();
    }

    static String rootMountOptions(long pid) {
        return Host.read(Path.of("/proc/" + pid + "/mountinfo")).lines().map(l -> l.split(" ")).filter(f -> f[4].equals("/"))
                .reduce((a, b) -> b).map(f -> f[5]).orElseThrow();
    }

    static boolean awaitCommand(long pid, String comm) {
        for (int i = 0; i < 500; i++) {
            if (Files.exists(Path.of("/proc/" + pid + "/comm")) && Host.read(Path.of("/proc/" + pid + "/comm")).strip().equals(comm)) return true;
            Host.pause(20);
        }
        return false;
    }

    @Test
    @Lesson("await-start")
    @DisplayName("create leaves init set up and waiting, start runs the process, kill and delete end it and remove its groups")
    void createSetsUpAndWaitsStartRunsKillAndDeleteRemoveIt() throws Exception {
        Path bundle = bundle("[\"sleep\", \"60\"]");
        Path pidFile = tmp.resolve("pid");
        Stage.Result create = oci("create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), ID);
        assertEquals(0, create.exit(), create::toString);
        long pid = Long.parseLong(Files.readString(pidFile).strip());

        // Created: init is set up, in its own namespaces and cgroup, and has not run the command.
        assertTrue(oci("state", ID).out().contains("\"status\":\"created\""));
        assertTrue(oci("state", ID).out().contains("\"pid\":" + pid + ","));
        for (String kind : List.of("pid", "mnt", "uts", "ipc", "net"))
            assertNotEquals(Host.namespace("self", kind), Host.namespace(pid, kind), kind);
        assertEquals("java", Host.read(Path.of("/proc/" + pid + "/comm")).strip(), "init waits before execve");
        assertEquals("workbook", Host.inNamespaceOf(pid, "-u", "hostname").out().strip());
        assertEquals("/" + ID, Host.cgroupPath(Host.cgroupsOf(pid), "memory"));
        Path devices = Host.cgroupDirectory(pid, "devices");
        assertFalse(Host.read(devices.resolve("devices.list")).contains("a *:* rwm"), "spec's rule denies all devices but the defaults");

        // Started: the command runs as PID 1, with the spec's capabilities, no_new_privs, a read-only root.
        Stage.Result start = oci("start", ID);
        assertEquals(0, start.exit(), start::toString);
        assertTrue(awaitCommand(pid, "sleep"), "the command replaced init");
        assertTrue(oci("state", ID).out().contains("\"status\":\"running\""));
        assertEquals("00000000a80425fb", procStatus(pid, "CapBnd"), "Docker's default set");
        assertEquals("1", procStatus(pid, "NoNewPrivs"));
        assertTrue(rootMountOptions(pid).startsWith("ro"), rootMountOptions(pid));
        assertNotEquals(0, oci("start", ID).exit(), "a running container does not start again");
        Stage.Result delete = oci("delete", ID);
        assertEquals(125, delete.exit());
        assertTrue(delete.err().strip().lines().count() == 1 && delete.err().contains("is running"), delete::toString);

        // Killed, then deleted: the process, the groups and the record go.
        assertEquals(0, oci("kill", ID, "KILL").exit());
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)));
        assertTrue(oci("state", ID).out().contains("\"status\":\"stopped\""));
        assertEquals(0, oci("delete", ID).exit());
        assertFalse(Files.exists(devices), "its cgroup is gone");
        assertFalse(Files.exists(tmp.resolve("state").resolve(ID)));
        assertNotEquals(0, oci("state", ID).exit());
    }

    /**
     * What process.terminal gives a process, as the host sees it: its stdin, stdout and stderr
     * one pseudo-terminal, /dev/pts/N of the container's own devpts (not a device of the host's
     * /dev/pts), and that terminal is the controlling one of a session the process leads
     * (/proc/PID/stat: session, then tty_nr, major 136 for a pts). Returns the terminal's name.
     */
    static String assertATerminalOfItsOwn(long pid) throws IOException {
        String name = Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/0")).toString();
        assertTrue(name.matches("/dev/pts/\\d+"), name);
        for (int fd = 1; fd <= 2; fd++) assertEquals(name, Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/" + fd)).toString(), "fd " + fd);
        assertNotEquals(Files.getAttribute(Path.of("/dev/pts/ptmx"), "unix:dev"), Files.getAttribute(Path.of("/proc/" + pid + "/fd/0"), "unix:dev"),
                "the terminal is of the container's devpts, not the host's");
        String stat = Host.read(Path.of("/proc/" + pid + "/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" "); // state, ppid, pgrp, session, tty_nr, ...
        assertEquals(Long.toString(pid), fields[3], "a session of its own: " + stat);
        int tty = Integer.parseInt(fields[4]);
        assertEquals(136, (tty >> 8) & 0xfff, "a controlling terminal, a pts (major 136): " + stat);
        assertEquals(name, "/dev/pts/" + ((tty & 0xff) | ((tty >> 12) & 0xfff00)), "the controlling terminal is stdin's");
        return name;
    }

    /** The directory a process sees as "/", as the host knows it: device and inode. */
    static String rootOf(long pid) {
        return Host.run("stat", "-L", "-c", "%d:%i", "/proc/" + pid + "/root/").out().strip();
    }

    // tag::exec-test[]
    @Test
    @DisplayName("exec runs one more process in a running container: init's namespaces, groups and root, the process's own user and no_new_privs, its exit status")
    void execJoinsARunningContainer() throws Exception {
        Path bundle = bundle("[\"sleep\", \"60\"]");
        Path pidFile = tmp.resolve("pid");
        assertEquals(0, oci("create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), ID).exit());
        long init = Long.parseLong(Files.readString(pidFile).strip());
        Stage.Result tooSoon = oci("exec", ID, "true");
        assertEquals(125, tooSoon.exit(), tooSoon::toString);
        assertTrue(tooSoon.err().contains("is created: exec needs a running container"), tooSoon::toString);
        assertEquals(0, oci("start", ID).exit());
        assertTrue(awaitCommand(init, "sleep"));

        // As the engines call it: the process in a file, detached, its PID in a file.
        Path process = tmp.resolve("process.json"), execPid = tmp.resolve("exec.pid");
        Files.writeString(process, "{\"args\": [\"sleep\", \"30\"], \"cwd\": \"/\", \"env\": [\"PATH=/bin\"],"
                + " \"user\": {\"uid\": 1000, \"gid\": 1000}, \"noNewPrivileges\": true}");
        Stage.Result exec = oci("exec", "--process", process.toString(), "--detach", "--pid-file", execPid.toString(), ID);
        assertEquals(0, exec.exit(), exec::toString);
        long pid = Long.parseLong(Files.readString(execPid).strip());
        assertTrue(awaitCommand(pid, "sleep"), "the process runs");
        for (String kind : List.of("pid", "mnt", "uts", "ipc", "net", "cgroup"))
            assertEquals(Host.namespace(init, kind), Host.namespace(pid, kind), kind + ": init's");
        assertEquals(Host.cgroupsOf(init), Host.cgroupsOf(pid), "init's groups");
        assertEquals(rootOf(init), rootOf(pid), "init's root");
        assertNotEquals(rootOf(ProcessHandle.current().pid()), rootOf(pid), "not the host's");
        assertTrue(procStatus(pid, "Uid").startsWith("1000\t"), procStatus(pid, "Uid"));
        assertEquals("0000000000000000", procStatus(pid, "CapEff"), "an ordinary user, no capability");
        assertEquals("1", procStatus(pid, "NoNewPrivs"));

        // Waited for: exec's exit status is the process's.
        Stage.Result waited = oci("exec", ID, "sh", "-c", "exit 3");
        assertEquals(3, waited.exit(), waited::toString);
        Stage.Result tty = oci("exec", "--tty", ID, "sh");
        assertEquals(125, tty.exit(), tty::toString);
        assertEquals(1, tty.err().strip().lines().count(), tty::toString);

        assertEquals(0, oci("kill", ID, "KILL").exit());
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)), "the process went with the container's PID 1");
        assertEquals(0, oci("delete", "--force", ID).exit());
    }
    // end::exec-test[]

    @Test
    void runWaitsAndPassesTheExitStatusThrough() throws Exception {
        Path bundle = bundle("[\"sh\", \"-c\", \"exit 7\"]");
        Stage.Result r = run(tmp, List.of(runtime().toString(), "--root", tmp.resolve("state").toString(), "run", "--bundle", bundle.toString(), ID));
        assertEquals(7, r.exit(), r::toString);
        assertFalse(Files.exists(tmp.resolve("state").resolve(ID)), "run deletes what it created");
    }

    @Test
    void whatItDoesNotHonourCreateRefusesInOneLineAndLeavesNothing() throws Exception {
        Path bundle = bundle("[\"true\"]");
        Path config = bundle.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"terminal\": false", "\"terminal\": true")); // and no --console-socket to send it to
        for (List<String> bad : List.of(List.of("create", "--bundle", bundle.toString(), ID), List.of("create", "--bundle", bundle.toString(), "../up"),
                List.of("start", "nosuch"), List.of("kill", "nosuch", "NOSIG"), List.of("--systemd-cgroup", "create", "--bundle", bundle.toString(), ID),
                List.of("create", "--bundle", bundle.toString(), "--console-socket", tmp.resolve("nosuch.sock").toString(), ID))) {
            Stage.Result r = oci(bad.toArray(String[]::new));
            assertEquals(125, r.exit(), () -> bad + "\n" + r);
            assertEquals(1, r.err().strip().lines().count(), () -> bad + "\n" + r);
        }
        try (var left = Files.list(tmp.resolve("state"))) {
            assertEquals(List.of(), left.toList());
        }
    }

    @Test
    void errorsGoToTheLogInTheFormatAsked() throws Exception {
        Path log = tmp.resolve("log.json");
        Stage.Result r = run(tmp, List.of(runtime().toString(), "--root", tmp.resolve("state").toString(), "--log", log.toString(),
                "--log-format", "json", "start", "nosuch"));
        assertEquals(125, r.exit());
        String line = Files.readString(log).strip();
        assertTrue(line.matches("\\{\"level\":\"error\",\"msg\":\"container nosuch does not exist[^\"]*\",\"time\":\"[^\"]+\"}"), line);
    }

    // tag::attack-mount-destination[]
    @Test
    @Lesson("in-root")
    @DisplayName("a symbolic link in the image cannot take a mount's destination out of the container's root")
    void aSymlinkInTheImageCannotTakeAMountOutOfTheRoot() throws Exception {
        Path host = tmp.resolve("host");
        Files.createDirectories(host);
        Path bundle = bundle("[\"true\"]");
        // The image's /evil leads, read on the host, to the host's directory; the config mounts a tmpfs below it.
        Files.createSymbolicLink(bundle.resolve("rootfs/evil"), Path.of("/../../../../../../.." + host));
        Path config = bundle.resolve("config.json");
        Files.writeString(config, Files.readString(config).replaceFirst("\"mounts\": \\[",
                "\"mounts\": [{\"destination\": \"/evil/made-by-the-container\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"},"));
        Stage.Result r = run(tmp, List.of(runtime().toString(), "--root", tmp.resolve("state").toString(), "run", "--bundle", bundle.toString(), ID));
        assertEquals(0, r.exit(), r::toString);
        assertFalse(Files.exists(host.resolve("made-by-the-container")), "the mount point was made on the host");
        assertTrue(Files.isDirectory(bundle.resolve("rootfs" + host + "/made-by-the-container")), "the link was followed inside the root");
    }
    // end::attack-mount-destination[]

    /**
     * The attack: an image whose /proc holds files of its own (the kernel's last capability 0,
     * a "start FIFO" that is a plain file), run by a config that mounts no proc over them. init
     * would read them once the root is the image's: its process would run before start, with
     * the whole bounding set. create refuses such a config, and nothing is made.
     */
    @Test
    void anImageCannotStandInForProc() throws Exception {
        Path bundle = bundle("[\"sleep\", \"60\"]");
        Path fake = bundle.resolve("rootfs/proc");
        Files.createDirectories(fake.resolve("sys/kernel"));
        Files.createDirectories(fake.resolve("self/fd"));
        Files.writeString(fake.resolve("sys/kernel/cap_last_cap"), "0\n");
        Files.writeString(fake.resolve("self/setgroups"), "allow\n");
        Files.writeString(fake.resolve("self/fd/3"), "");
        Host.run("chmod", "666", fake.resolve("self/fd/3").toString());
        Path config = bundle.resolve("config.json");
        String text = Files.readString(config).replaceFirst("\\{\\s*\"destination\": \"/proc\",\\s*\"type\": \"proc\"[^}]*},\\s*", "")
                .replace("\"readonly\": true", "\"readonly\": false") // these three read mountinfo, which the image does not fake
                .replaceAll("\"(maskedPaths|readonlyPaths)\": \\[[^\\]]*\\]", "\"$1\": []");
        assertFalse(text.contains("\"type\": \"proc\""), text);
        Files.writeString(config, text);

        Stage.Result create = oci("create", "--bundle", bundle.toString(), "--pid-file", tmp.resolve("pid").toString(), ID);
        assertEquals(125, create.exit(), () -> "created, and its process ran at once:\n" + create);
        assertEquals(1, create.err().strip().lines().count(), create::toString);
        assertTrue(create.err().contains("mounts no proc at /proc"), create::toString);
        assertFalse(Files.exists(tmp.resolve("pid")));
        try (var left = Files.list(tmp.resolve("state"))) {
            assertEquals(List.of(), left.toList());
        }
    }

    @Test
    @Lesson("seccomp-argument")
    @DisplayName("a seccomp profile's argument comparison refuses chmod to a setuid mode and allows a plain one")
    void aProfilesArgumentComparisonsAreCompiled() throws Exception {
        Path volume = tmp.resolve("volume");
        Files.createDirectories(volume);
        Files.writeString(volume.resolve("plain"), "");
        Files.writeString(volume.resolve("setuid"), "");
        Path bundle = bundle("[\"sh\", \"-c\", \"chmod 0755 /volume/plain; chmod 04755 /volume/setuid; echo $?\"]");
        // chmod(path, mode) and fchmodat(dirfd, path, mode): mode & S_ISUID == S_ISUID answers EPERM
        String rule = "{\"names\": [\"%s\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1, \"args\": [{\"index\": %d, \"value\": 2048, \"valueTwo\": 2048, \"op\": \"SCMP_CMP_MASKED_EQ\"}]}";
        String profile = "\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_AARCH64\"], \"syscalls\": ["
                + String.format(rule, "chmod", 1) + ", " + String.format(rule, "fchmodat", 2) + "]},";
        Path config = bundle.resolve("config.json");
        Files.writeString(config, Files.readString(config).replaceFirst("\"linux\": \\{", "\"linux\": {" + profile)
                .replaceFirst("\"mounts\": \\[", "\"mounts\": [{\"destination\": \"/volume\", \"type\": \"bind\", \"source\": \"" + volume + "\", \"options\": [\"bind\"]},"));
        Stage.Result r = run(tmp, List.of(runtime().toString(), "--root", tmp.resolve("state").toString(), "run", "--bundle", bundle.toString(), ID));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("1", r.out().strip(), "chmod 04755 failed inside: " + r);
        assertEquals("rwxr-xr-x", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(volume.resolve("plain"))));
        assertEquals(0, (int) Files.getAttribute(volume.resolve("setuid"), "unix:mode") & 04000, "no setuid bit, seen from the host");
    }
}
