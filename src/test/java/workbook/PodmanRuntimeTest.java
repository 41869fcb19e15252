package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static workbook.OciRuntimeStageTest.*;

/**
 * Podman (Debian's) with stage 09 as its runtime: `podman --runtime PATH run ...`, its conmon
 * calling create, start, kill and delete. Podman keeps everything of its own in a scratch
 * directory (--root, --runroot, --tmpdir), uses no network (--network none: no bridge, no
 * firewall rule) and puts its cgroups under a parent group named for this test, removed after.
 * Each option is proven from the host: the container's PID from podman inspect, then
 * /proc/PID and the cgroup files.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class PodmanRuntimeTest {
    static final String PARENT = "workbook-podman-" + ProcessHandle.current().pid();

    @TempDir Path tmp;

    /**
     * What Podman makes on its first run whatever directories it is given (its blob cache under
     * /var/lib/containers, /run/libpod), and the runtime's own default root, which Podman does
     * not choose: removed after the test if they were not there before it.
     */
    static final List<Path> MADE_ON_FIRST_RUN = List.of(Path.of("/var/lib/containers"), Path.of("/run/libpod"), Path.of("/run/workbook-runtime"));
    EngineLeftovers leftovers;

    @BeforeEach
    void anImage() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/podman")), "podman is not installed (scripts/test installs it)");
        leftovers = new EngineLeftovers(tmp, PARENT, MADE_ON_FIRST_RUN);
        Files.writeString(tmp.resolve("containers.conf"), "[containers]\n# this machine's root may not raise rlimits (no CAP_SYS_RESOURCE)\ndefault_ulimits = []\n");
        Path tar = tmp.resolve("rootfs.tar");
        assertEquals(0, Host.run("tar", "-C", Stage.ROOTFS.toString(), "-cf", tar.toString(), ".").exit());
        Stage.Result imported = podman("import", tar.toString(), "workbook-busybox");
        assertEquals(0, imported.exit(), imported::toString);
    }

    Stage.Result podman(String... args) throws IOException, InterruptedException {
        return OciRuntimeStageTest.run(tmp, podmanCommand(args));
    }

    List<String> podmanCommand(String... args) {
        List<String> command = new ArrayList<>(List.of("env", "CONTAINERS_CONF=" + tmp.resolve("containers.conf"), "podman",
                "--root", tmp.resolve("storage").toString(), "--runroot", tmp.resolve("run").toString(), "--tmpdir", tmp.resolve("libpod").toString(),
                "--cgroup-manager", "cgroupfs", "--events-backend", "none",
                "--runtime", Stage.folderOf(OciRuntimeStageTest.NAME).resolve("runtime").toString()));
        command.addAll(List.of(args));
        return command;
    }

    List<String> runOptions(String... more) {
        List<String> options = new ArrayList<>(List.of("run", "--network", "none", "--cgroup-parent", "/" + PARENT));
        options.addAll(List.of(more));
        return options;
    }

    @AfterEach
    void removeEverything() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/podman"))) return;
        podman("rm", "--all", "--force");
        podman("rmi", "--all", "--force");
        leftovers.remove(); // podman's storage: an overlay mount or two may stay under its root
    }

    @Test
    void theExitStatusComesThroughPodmanAndConmon() throws Exception {
        List<String> options = runOptions("--rm", "workbook-busybox", "sh", "-c", "echo out; exit 3");
        Stage.Result r = podman(options.toArray(String[]::new));
        assertEquals(3, r.exit(), r::toString);
        assertEquals("out", r.out().strip());
    }

    @Test
    void podmansOptionsAreAppliedAsTheHostSeesThem() throws Exception {
        Files.createDirectories(tmp.resolve("volume"));
        Files.writeString(tmp.resolve("volume/note"), "from the host\n");
        List<String> options = runOptions("-d", "--name", "limited", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--read-only",
                "--user", "1000:1000", "-v", tmp.resolve("volume") + ":/volume:ro", "workbook-busybox", "sleep", "600");
        Stage.Result r = podman(options.toArray(String[]::new));
        assertEquals(0, r.exit(), r::toString);
        long pid = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", "limited").out().strip());
        assertTrue(awaitCommand(pid, "sleep"));
        assertEquals("67108864", Host.read(Host.cgroupDirectory(pid, "memory").resolve("memory.limit_in_bytes")).strip());
        assertEquals("50000", Host.read(Host.cgroupDirectory(pid, "cpu").resolve("cpu.cfs_quota_us")).strip());
        assertEquals("100000", Host.read(Host.cgroupDirectory(pid, "cpu").resolve("cpu.cfs_period_us")).strip());
        assertEquals("50", Host.read(Host.cgroupDirectory(pid, "pids").resolve("pids.max")).strip());
        assertTrue(Host.cgroupPath(Host.cgroupsOf(pid), "memory").startsWith("/" + PARENT + "/"), Host.cgroupsOf(pid)::toString);
        assertTrue(procStatus(pid, "Uid").startsWith("1000\t"), procStatus(pid, "Uid"));
        assertTrue(procStatus(pid, "Gid").startsWith("1000\t"), procStatus(pid, "Gid"));
        assertTrue(rootMountOptions(pid).startsWith("ro"), rootMountOptions(pid));
        String volume = Host.read(Path.of("/proc/" + pid + "/mountinfo")).lines().filter(l -> l.split(" ")[4].equals("/volume")).findFirst().orElseThrow();
        assertTrue(volume.split(" ")[5].startsWith("ro"), volume);
        assertEquals("from the host", Host.inNamespaceOf(pid, "-m", "cat", "/volume/note").out().strip());
        assertEquals("2", procStatus(pid, "Seccomp"), "Podman's default seccomp profile, compiled");

        // podman stop: SIGTERM, which sleep as PID 1 ignores, then after a second SIGKILL, both by the runtime's kill
        Stage.Result stop = podman("stop", "--time", "1", "limited");
        assertEquals(0, stop.exit(), stop::toString);
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)));
        assertEquals(0, podman("rm", "limited").exit());
    }

    @Test
    void podmanExecJoinsTheContainerAndPassesItsExitStatusThrough() throws Exception {
        assertEquals(0, podman(runOptions("-d", "--name", "joined", "workbook-busybox", "sleep", "600").toArray(String[]::new)).exit());
        long init = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", "joined").out().strip());
        assertTrue(awaitCommand(init, "sleep"));

        Stage.Result status = podman("exec", "joined", "sh", "-c", "exit 5");
        assertEquals(5, status.exit(), status::toString);
        Stage.Result user = podman("exec", "--user", "1000:1000", "joined", "id", "-u");
        assertEquals("1000", user.out().strip(), user::toString);

        // detached: found on the host among the container's group's processes, in init's namespaces and root
        assertEquals(0, podman("exec", "-d", "joined", "sleep", "300").exit());
        Path procs = Host.cgroupDirectory(init, "pids").resolve("cgroup.procs");
        long pid = 0;
        for (int i = 0; i < 500 && pid == 0; i++, Host.pause(20))
            for (String line : Host.read(procs).strip().split("\n"))
                if (!line.isBlank() && Long.parseLong(line) != init && Host.read(Path.of("/proc/" + line + "/comm")).strip().equals("sleep")) pid = Long.parseLong(line);
        assertNotEquals(0, pid, "no second sleep in the container's group");
        for (String kind : List.of("pid", "mnt", "uts", "ipc", "net", "cgroup"))
            assertEquals(Host.namespace(init, kind), Host.namespace(pid, kind), kind + ": init's");
        assertEquals(OciRuntimeStageTest.rootOf(init), OciRuntimeStageTest.rootOf(pid), "init's root");
        assertEquals(0, podman("rm", "--force", "joined").exit());
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)));
    }

    @Test
    void runItAndExecItGiveTheProcessATerminalOfItsOwn() throws Exception {
        // -t: the runtime makes the terminal inside the container and sends its master end to conmon's --console-socket
        assertEquals(0, podman(runOptions("-d", "-t", "--name", "typed", "workbook-busybox", "sleep", "600").toArray(String[]::new)).exit());
        long pid = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", "typed").out().strip());
        assertTrue(awaitCommand(pid, "sleep"));
        assertATerminalOfItsOwn(pid);

        // -it, as a learner types it, under script(1), which gives podman a terminal: a line typed
        // reaches the process, its answer comes back through the terminal (\r\n), and its exit status too
        Files.writeString(tmp.resolve("typed.txt"), "hello\n");
        Stage.Result typed = inATerminal(tmp.resolve("typed.txt"), "exec", "-it", "typed", "sh", "-c", "read line; echo \"got $line on $(tty)\"; exit 6");
        assertEquals(6, typed.exit(), typed::toString);
        assertTrue(typed.out().contains("got hello on /dev/pts/1\r\n"), typed::toString);
        assertEquals(0, podman("rm", "--force", "typed").exit());
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)));

        Stage.Result run = inATerminal(tmp.resolve("typed.txt"), "run", "-it", "--rm", "--network", "none", "--cgroup-parent", "/" + PARENT,
                "workbook-busybox", "sh", "-c", "read line; echo \"got $line on $(tty)\"; exit 7");
        assertEquals(7, run.exit(), run::toString);
        assertTrue(run.out().contains("got hello on /dev/pts/0\r\n"), run::toString);
    }

    /** podman ARGS with a terminal of its own, made by script(1) (util-linux), INPUT typed into it. */
    Stage.Result inATerminal(Path input, String... args) throws IOException, InterruptedException {
        String podman = String.join(" ", podmanCommand(args).stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList());
        return OciRuntimeStageTest.run(tmp, List.of("sh", "-c", "exec script --quiet --return --command \"$1\" /dev/null < \"$2\"", "sh", podman, input.toString()));
    }

    @Test
    void aSeccompProfileOfOneselfIsCompiledAndApplied() throws Exception {
        // Docker's profile format, which Podman turns into config.json's linux.seccomp: mkdir refused with ENOSPC (28)
        Path profile = tmp.resolve("profile.json");
        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"],"
                + " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 28}]}");
        Stage.Result r = podman(runOptions("--rm", "--security-opt", "seccomp=" + profile, "workbook-busybox", "sh", "-c",
                "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo status $?; touch /tmp/y && echo touched").toArray(String[]::new));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("No space left on device"), r::toString);
        assertTrue(r.out().contains("status 1") && r.out().contains("touched"), "only mkdir is refused: " + r);
        assertTrue(r.out().contains("Seccomp:\t2"), r::toString);
    }

    @Test
    void capDropTakesTheCapabilityOutOfEverySet() throws Exception {
        List<String> options = runOptions("-d", "--name", "dropped", "--cap-drop", "NET_RAW", "--cap-drop", "CHOWN", "workbook-busybox", "sleep", "600");
        assertEquals(0, podman(options.toArray(String[]::new)).exit());
        long pid = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", "dropped").out().strip());
        assertTrue(awaitCommand(pid, "sleep"));
        for (String set : List.of("CapBnd", "CapPrm", "CapEff")) {
            long mask = Long.parseLong(procStatus(pid, set), 16);
            assertEquals(0, mask & (1L << 13), set + " has no NET_RAW");
            assertEquals(0, mask & 1L, set + " has no CHOWN");
            assertNotEquals(0, mask & (1L << 5), set + " keeps KILL");
        }
        assertEquals(0, podman("kill", "dropped").exit());
        assertTrue(Host.awaitGone(pid, java.time.Duration.ofSeconds(60)));
        assertEquals(0, podman("rm", "dropped").exit());
    }
}
