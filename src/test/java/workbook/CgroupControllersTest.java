package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What stage 04 added beyond cpu, memory and pids, in every stage from 04 on, proved from the
 * host: a cgroup namespace rooted at the container's groups, --cpuset-cpus, and pause and
 * unpause by the freezer. Stages 05 to 08 build a bridge: each run is in a network namespace
 * of the test's.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class CgroupControllersTest {
    static final Duration START = Duration.ofSeconds(90);
    static final String WAIT = "echo ready; exec sleep 600";

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"04-cgroup-cpu", "05-veth-bridge", "06-user-ns", "07-caps-seccomp", "08-overlay-image"})
    void theContainerSeesItsOwnGroupsAsTheRoot(String name) {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(Stage.of(name));
            try (Stage.Running running = stage.start("-q", "--cpus", "1", "--", "/bin/sh", "-c", "cat /proc/self/cgroup; " + WAIT)) {
                running.awaitOutput("ready", START);
                long command = running.container(START);

                assertNotEquals(Host.namespace("self", "cgroup"), Host.namespace(command, "cgroup"), "a cgroup namespace of its own");
                String onHost = Host.cgroupPath(Host.cgroupsOf(command), "cpu");
                assertTrue(onHost.matches("/workbook/" + name + "-\\d+"), "the host sees the container's group: " + onHost);
                List<String> inside = running.output().lines().takeWhile(l -> !l.equals("ready")).toList();
                assertFalse(inside.isEmpty(), running::output);
                for (String line : inside) assertTrue(line.endsWith(":/"), "inside, every hierarchy's group is the root: " + inside);

                // exec joins the namespace too: from inside, its groups are the root as well, and
                // outside the namespace's root a process would read "/.." paths.
                // From stage 07 on, exec enters with all of root's capabilities and no filter only if told so.
                List<String> args = new java.util.ArrayList<>(List.of("exec", "-q"));
                if (name.compareTo("07") > 0) args.add("--privileged");
                args.addAll(List.of(Long.toString(command), "--", "/bin/cat", "/proc/self/cgroup"));
                Stage.Result exec = stage.run(args.toArray(String[]::new));
                assertEquals(0, exec.exit(), exec::toString);
                assertEquals(inside, exec.outLines());
                running.end();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"04-cgroup-cpu", "05-veth-bridge", "06-user-ns", "07-caps-seccomp", "08-overlay-image"})
    void cpusetCpusKeepsTheContainerOnThoseCpus(String name) {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(Stage.of(name));
            String last = lastOnlineCpu();
            try (Stage.Running running = stage.start("-q", "--cpuset-cpus", last, "--", "/bin/sh", "-c", WAIT)) {
                running.awaitOutput("ready", START);
                long command = running.container(START);

                assertEquals(last, statusField(command, "Cpus_allowed_list"), "the scheduler's view of the command");
                Path group = Host.cgroupDirectory(command, "cpuset");
                assertEquals(last, Host.read(group.resolve("cpuset.cpus")).strip(), group.toString());
                running.end();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"04-cgroup-cpu", "05-veth-bridge", "06-user-ns", "07-caps-seccomp", "08-overlay-image"})
    void pauseFreezesTheContainerAndUnpauseThawsIt(String name) throws Exception {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxrwxrwx")); // root inside may be uid 100000
        Path count = tmp.resolve("count");
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(Stage.of(name));
            try (Stage.Running running = stage.start("-q", "--volume", tmp + ":/data", "--", "/bin/sh", "-c",
                    "i=0; echo ready; while :; do i=$((i + 1)); echo $i > /data/count; sleep 0.05; done")) {
                running.awaitOutput("ready", START);
                long command = running.container(START);
                awaitChange(count);

                Stage.Result pause = stage.run("pause", "-q", Long.toString(command));
                assertEquals(0, pause.exit(), pause::toString);
                assertEquals("FROZEN", freezerState(command));
                String frozen = Host.read(count);
                Host.pause(1000);
                assertEquals(frozen, Host.read(count), "no step of the loop while frozen");

                Stage.Result unpause = stage.run("unpause", "-q", Long.toString(command));
                assertEquals(0, unpause.exit(), unpause::toString);
                assertEquals("THAWED", freezerState(command));
                awaitChange(count);

                // Paused again, and the stage ended: it thaws the container to end it (a frozen
                // process takes no signal), and leaves nothing behind.
                assertEquals(0, stage.run("pause", "-q", Long.toString(command)).exit());
                Stage.Result end = running.end();
                assertEquals(128 + 9, end.exit(), end::toString);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"04-cgroup-cpu", "08-overlay-image"})
    void pauseOfAProcessThatIsNoContainerIsOneClearLine(String name) {
        String self = Long.toString(ProcessHandle.current().pid());
        Failures.assertStageFailed(Stage.of(name).run("pause", self), name, "process " + self + " is not");
        Failures.assertStageFailed(Stage.of(name).run("unpause", "999999999"), name, "no process 999999999 on this host");
    }

    static String statusField(long pid, String field) {
        return Host.read(Path.of("/proc/" + pid + "/status")).lines().filter(l -> l.startsWith(field + ":"))
                .map(l -> l.substring(field.length() + 1).strip()).findFirst().orElseThrow();
    }

    /** v1's freezer.state; on v2, cgroup.events said the same way. */
    static String freezerState(long pid) {
        if (Host.cgroupsOf(pid).stream().anyMatch(l -> l.split(":")[1].equals("freezer")))
            return Host.read(Host.cgroupDirectory(pid, "freezer").resolve("freezer.state")).strip();
        return Host.read(Host.cgroupDirectory(pid, "freezer").resolve("cgroup.events")).contains("frozen 1") ? "FROZEN" : "THAWED";
    }

    static String lastOnlineCpu() {
        String online = Host.read(Path.of("/sys/devices/system/cpu/online")).strip();
        return online.substring(Math.max(online.lastIndexOf(','), online.lastIndexOf('-')) + 1);
    }

    static void awaitChange(Path file) {
        for (int i = 0; i < 100 && !Files.exists(file); i++) Host.pause(50);
        String before = Host.read(file);
        for (int i = 0; i < 100 && Host.read(file).equals(before); i++) Host.pause(50);
        assertNotEquals(before, Host.read(file), "the loop runs: " + file);
    }
}
