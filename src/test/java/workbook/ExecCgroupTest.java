package workbook;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `exec` into a container with limits (stages 04 to 06) starts its process in the container's
 * cgroups, as docker exec does: the host sees the same groups for it as for init, and what it
 * forks counts against the container's --pids-limit. Runs in a network namespace of the test's.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class ExecCgroupTest {
    static final Duration START = Duration.ofSeconds(60);

    @ParameterizedTest
    @ValueSource(strings = {"04-cgroup-cpu", "05-veth-bridge", "06-user-ns"})
    void execStartsInTheContainersGroupsAndCountsAgainstItsLimits(String name) {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage stage = lab.stage(Stage.of(name));
            try (Stage.Running running = stage.start("-q", "--cpus", "1", "--memory", "64m", "--pids-limit", "12", "--",
                    "/bin/sh", "-c", "echo ready; exec sleep 600")) {
                running.awaitOutput("ready", START);
                long init = running.container(START);

                // The exec'd process, as the host sees it (inside, the cgroup namespace shows "/").
                try (Stage.Running exec = stage.start("exec", "-q", Long.toString(init), "--", "/bin/sleep", "31")) {
                    long sleeper = awaitProcessInNamespaceOf(init, "31");
                    assertEquals(Host.cgroupsOf(init), Host.cgroupsOf(sleeper), "the exec'd process is in the container's groups");
                    exec.stop();
                }

                Stage.Result forks = stage.run("exec", "-q", Long.toString(init), "--", "/bin/sh", "-c",
                        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do sleep 5 & done; wait");
                assertTrue(forks.err().contains("Resource temporarily unavailable"), () -> "fork fails with EAGAIN:\n" + forks);
                running.end();
            }
        }
    }

    /** The host PID of a process in the container's PID namespace, other than init, whose command line holds ARG. */
    static long awaitProcessInNamespaceOf(long init, String arg) {
        String namespace = Host.namespace(init, "pid");
        for (int i = 0; i < 600; i++) {
            java.util.Optional<ProcessHandle> found = ProcessHandle.allProcesses()
                    .filter(p -> p.pid() != init && namespace.equals(Host.namespaceIfAlive(p.pid(), "pid")))
                    .filter(p -> p.info().arguments().map(a -> List.of(a).contains(arg)).orElse(false)).findFirst();
            if (found.isPresent()) return found.get().pid();
            Host.pause(100);
        }
        throw new AssertionError("no process with " + arg + " in the container");
    }
}
