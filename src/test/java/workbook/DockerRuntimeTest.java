package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static workbook.OciRuntimeStageTest.*;

/**
 * Docker drives stage 09 as it drives runc: dockerd hands the container to containerd, whose
 * runc shim (containerd-shim-runc-v2) calls the runtime `--add-runtime` names, with runc's
 * command line. The daemon is the test's own: its socket, images, state and containerd in a
 * scratch directory, started with no bridge, no firewall rules, no forwarding and no
 * masquerading (nothing of this machine's network changes), its containers in `--network
 * none`, ended by its PID; what dockerd makes outside its directories (/run/docker,
 * /run/containerd) is removed after if it was not there before.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class DockerRuntimeTest {
    static final String PARENT = "workbook-docker-" + ProcessHandle.current().pid();
    static final List<Path> MADE_ON_FIRST_RUN = List.of(Path.of("/run/docker"), Path.of("/run/containerd"));

    @TempDir Path tmp;
    Process dockerd;
    EngineLeftovers leftovers;

    @BeforeEach
    void aDaemonOfItsOwn() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/dockerd")), "dockerd is not installed (scripts/test installs docker.io)");
        leftovers = new EngineLeftovers(tmp, PARENT, MADE_ON_FIRST_RUN);
        dockerd = new ProcessBuilder("/usr/sbin/dockerd", "--host", "unix://" + tmp.resolve("docker.sock"),
                "--data-root", tmp.resolve("data").toString(), "--exec-root", tmp.resolve("exec").toString(), "--pidfile", tmp.resolve("dockerd.pid").toString(),
                "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                "--containerd-namespace", PARENT, "--containerd-plugins-namespace", PARENT + "-plugins",
                "--exec-opt", "native.cgroupdriver=cgroupfs",
                "--add-runtime", "workbook=" + Stage.folderOf(NAME).resolve("runtime"))
                .redirectErrorStream(true).redirectOutput(tmp.resolve("dockerd.log").toFile()).start();
        Stage.Result up = null;
        for (int i = 0; i < 600 && dockerd.isAlive() && (up == null || up.exit() != 0); i++) {
            Host.pause(100);
            up = docker("version");
        }
        assertTrue(up != null && up.exit() == 0, () -> "dockerd did not come up:\n" + Host.read(tmp.resolve("dockerd.log")));
        Path tar = tmp.resolve("rootfs.tar");
        assertEquals(0, Host.run("tar", "-C", Stage.ROOTFS.toString(), "-cf", tar.toString(), ".").exit());
        Stage.Result imported = docker("import", tar.toString(), "workbook-busybox");
        assertEquals(0, imported.exit(), imported::toString);
    }

    Stage.Result docker(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("docker", "--host", "unix://" + tmp.resolve("docker.sock")));
        command.addAll(List.of(args));
        return OciRuntimeStageTest.run(tmp, command);
    }

    List<String> runOptions(String... more) {
        List<String> options = new ArrayList<>(List.of("run", "--runtime", "workbook", "--network", "none", "--cgroup-parent", "/" + PARENT));
        options.addAll(List.of(more));
        return options;
    }

    @AfterEach
    void endTheDaemon() throws Exception {
        if (dockerd == null) return;
        if (dockerd.isAlive()) {
            docker("rm", "--force", "--volumes", "kept");
            dockerd.destroy(); // SIGTERM, to its PID: it stops its containerd and the shims
            if (!dockerd.waitFor(2, TimeUnit.MINUTES)) dockerd.destroyForcibly().waitFor();
        }
        leftovers.remove();
    }

    @Test
    void dockerRunPassesTheExitStatusAndTheOutputThrough() throws Exception {
        Stage.Result r = docker(runOptions("--rm", "workbook-busybox", "sh", "-c", "echo from the container; exit 4").toArray(String[]::new));
        assertEquals(4, r.exit(), r::toString);
        assertEquals("from the container", r.out().strip(), r::toString);
    }

    @Test
    void dockersOptionsAndExecAreAppliedAsTheHostSeesThem() throws Exception {
        Stage.Result r = docker(runOptions("-d", "-t", "--name", "kept", "--memory", "64m", "--pids-limit", "40", "--user", "1000:1000",
                "workbook-busybox", "sleep", "600").toArray(String[]::new));
        assertEquals(0, r.exit(), r::toString);
        long pid = Long.parseLong(docker("inspect", "--format", "{{.State.Pid}}", "kept").out().strip());
        assertTrue(awaitCommand(pid, "sleep"));
        for (String kind : List.of("pid", "mnt", "uts", "ipc", "net"))
            assertNotEquals(Host.namespace("self", kind), Host.namespace(pid, kind), kind);
        assertEquals("67108864", Host.read(Host.cgroupDirectory(pid, "memory").resolve("memory.limit_in_bytes")).strip());
        assertEquals("40", Host.read(Host.cgroupDirectory(pid, "pids").resolve("pids.max")).strip());
        assertTrue(Host.cgroupPath(Host.cgroupsOf(pid), "memory").startsWith("/" + PARENT + "/"), Host.cgroupsOf(pid)::toString);
        assertTrue(procStatus(pid, "Uid").startsWith("1000\t"), procStatus(pid, "Uid"));
        assertEquals("2", procStatus(pid, "Seccomp"), "Docker's default seccomp profile, compiled");
        assertATerminalOfItsOwn(pid); // -t: its master end went to the shim's --console-socket

        // docker exec: through the shim's `exec --process FILE --detach`, its exit status passed back
        Stage.Result exec = docker("exec", "kept", "sh", "-c", "exit 6");
        assertEquals(6, exec.exit(), exec::toString);
        Stage.Result tty = docker("exec", "-t", "kept", "tty"); // a terminal of its own, the shim relaying its output
        assertEquals("/dev/pts/1\r\n", tty.out(), tty::toString);

        // docker stop: SIGTERM, which sleep as PID 1 ignores, then the runtime's SIGKILL
        Stage.Result stop = docker("stop", "--time", "1", "kept");
        assertEquals(0, stop.exit(), stop::toString);
        assertTrue(Host.awaitGone(pid, Duration.ofSeconds(60)));
        assertEquals(0, docker("rm", "kept").exit());
    }
}
