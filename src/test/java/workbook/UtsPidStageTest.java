package workbook;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

@RootOnly
@ExtendWith(NothingLeftBehind.class)
class UtsPidStageTest {
    static final Stage STAGE = Stage.of("02-uts-pid");
    static final Duration START = Duration.ofSeconds(60);

    @Test
    @Lesson("namespaces")
    @DisplayName("the command is PID 1")
    void theCommandIsPid1() {
        Stage.Result r = STAGE.run("--", "/bin/sh", "-c", "echo $$");

        assertEquals(0, r.exit(), r::toString);
        assertEquals(List.of("1"), r.outLines());
    }

    @Test
    @Lesson("hostname")
    @DisplayName("the container has its own hostname, and the host's is unchanged")
    void theContainerHasItsOwnHostnameAndTheHostsIsUnchanged() {
        String host = Host.hostname();
        Stage.Result r = STAGE.run("--hostname", "box", "--", "/bin/sh", "-c", "hostname");

        assertEquals(0, r.exit(), r::toString);
        assertEquals(List.of("box"), r.outLines());
        assertEquals(host, Host.hostname());
    }

    @Test
    @Lesson("namespaces")
    @DisplayName("the host sees new uts, pid, ipc and mnt namespaces; net, user and cgroup stay the host's")
    void theHostSeesNewNamespaces() {
        String host = Host.hostname();
        try (Stage.Running running = STAGE.start("--hostname", "seen-from-host", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            for (String kind : List.of("uts", "pid", "ipc", "mnt"))
                assertNotEquals(Host.namespace("self", kind), Host.namespace(init, kind), kind + " namespace of the container");
            for (String kind : List.of("net", "user", "cgroup"))
                assertEquals(Host.namespace("self", kind), Host.namespace(init, kind), kind + " namespace is still the host's");
            // util-linux's nsenter, an independent client, reads the container's hostname.
            assertEquals("seen-from-host", Host.run("nsenter", "-t", Long.toString(init), "-u", "hostname").out().strip());
            assertEquals(host, Host.hostname());
        }
    }

    @Test
    @Lesson("setns")
    @DisplayName("exec runs a command in the container's namespaces")
    void execJoinsTheContainersNamespaces() {
        try (Stage.Running running = STAGE.start("--hostname", "seen-from-host", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            Stage.Result exec = STAGE.run("exec", Long.toString(init), "--", "/bin/sh", "-c", "hostname; readlink /proc/self/ns/pid; readlink /proc/1/exe");
            assertEquals(0, exec.exit(), exec::toString);
            assertEquals(List.of("seen-from-host", Host.namespace(init, "pid"), "/bin/busybox"), exec.outLines());

            // sleep, as PID 1, has no handler for SIGTERM: the stage's grace period ends in SIGKILL.
            running.signal("TERM");
            assertEquals(128 + 9, running.finish(Duration.ofSeconds(30)).exit());
        }
    }

    @Test
    void quietBeforeOrAfterExecSilencesTheNarration() {
        try (Stage.Running running = STAGE.start("--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            String init = Long.toString(running.child(START));
            for (List<String> args : List.of(List.of("-q", "exec", init, "--", "/bin/hostname"), List.of("exec", "-q", init, "--", "/bin/hostname"))) {
                Stage.Result exec = STAGE.run(args.toArray(String[]::new));
                assertEquals(0, exec.exit(), exec::toString);
                assertEquals("", exec.err(), () -> args + " narrates nothing:\n" + exec);
            }
        }
    }

    @Test
    @Lesson("proc")
    @DisplayName("ps inside lists only the container's processes")
    void psInsideListsOnlyTheContainersProcesses() {
        Stage.Result r = STAGE.run("--", "/bin/sh", "-c", "ps -o pid,args; true");

        assertEquals(0, r.exit(), r::toString);
        List<String> rows = r.outLines().subList(1, r.outLines().size());
        assertEquals(2, rows.size(), () -> "the shell and ps, nothing of the host's:\n" + r.out());
        assertTrue(rows.get(0).strip().startsWith("1 "), r::out);
    }

    @Test
    @Lesson("namespaces")
    @DisplayName("PID 1 ignores the signals it has no handler for")
    void pid1IgnoresSignalsItHasNoHandlerFor() {
        // On the host this shell would die of its own SIGTERM; as PID 1 it does not.
        assertEquals("still here", STAGE.run("--", "/bin/sh", "-c", "kill -TERM 1; echo still here").out().strip());
        assertEquals("", Host.run("sh", "-c", "kill -TERM $$; echo still here").out().strip());
    }

    @Test
    @Lesson("namespaces")
    @DisplayName("orphans are adopted by PID 1")
    void orphansAreAdoptedByPid1() {
        // The subshell starts sleep and exits at once: sleep is an orphan.
        Stage.Result r = STAGE.run("--", "/bin/sh", "-c", "(sleep 5 &); sleep 0.5; ps -o ppid,args; true");
        assertEquals(0, r.exit(), r::toString);
        String sleep = r.outLines().stream().filter(l -> l.endsWith(" sleep 5")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
        assertEquals("1", sleep.strip().split("\\s+")[0], r::out);
    }

    @Test
    void ctrlCToTheStageEndsTheContainer() {
        // SIGINT as a terminal's Ctrl-C has it: not ignored, as it is for a job a script started
        // in the background (and so for these tests, when the suite itself runs as one).
        try (Stage.Running running = STAGE.alsoWrappedIn("env", "--default-signal=INT").start("--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            running.signal("INT");
            Stage.Result r = running.finish(Duration.ofSeconds(30));
            assertEquals(128 + 9, r.exit(), r::toString);
            assertTrue(Host.awaitGone(init, Duration.ofSeconds(60)));
        }
    }

    @Test
    void killingTheContainerFromTheHostEndsTheStage() {
        try (Stage.Running running = STAGE.start("--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            Host.run("kill", "-KILL", Long.toString(running.child(START)));

            assertEquals(128 + 9, running.finish(Duration.ofSeconds(30)).exit());
        }
    }

    @Test
    void killingTheStageKillsTheContainer() {
        try (Stage.Running running = STAGE.start("--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.child(START);

            running.signal("KILL");
            running.finish(Duration.ofSeconds(30));
            assertTrue(Host.awaitGone(init, Duration.ofSeconds(60)), "PR_SET_PDEATHSIG ends the container with its parent");
        }
    }

    @Test
    @Lesson("hostname")
    @DisplayName("two containers run at once, each with its own hostname")
    void twoContainersRunAtOnceEachWithItsOwnNamespaces() {
        try (Stage.Running a = STAGE.start("--hostname", "a", "--", "/bin/sh", "-c", "echo ready; exec sleep 600");
             Stage.Running b = STAGE.start("--hostname", "b", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            a.awaitOutput("ready", START);
            b.awaitOutput("ready", START);
            long initA = a.child(START), initB = b.child(START);

            assertNotEquals(Host.namespace(initA, "uts"), Host.namespace(initB, "uts"));
            assertEquals("b", Host.run("nsenter", "-t", Long.toString(initB), "-u", "hostname").out().strip());
            a.end();
            b.end();
        }
    }

    @Test
    void aHostnameLongerThanTheKernelAllowsIsAClearError() {
        assertStageFailed(STAGE.run("--hostname", "x".repeat(65), "--", "/bin/true"), "02-uts-pid", "--hostname must be 1 to 64 characters");
    }

    @Test
    void aCommandMissingFromTheContainerIsAClearError() {
        assertStageFailed(STAGE.run("--", "/no/such/command"), "02-uts-pid", "no such command in the container: /no/such/command");
    }

    @Test
    void execIntoAProcessThatIsNotAContainerIsAClearError() {
        long self = ProcessHandle.current().pid();
        assertStageFailed(STAGE.run("exec", Long.toString(self), "--", "/bin/true"), "02-uts-pid", "is not in a container");
        assertStageFailed(STAGE.run("exec", "999999999", "--", "/bin/true"), "02-uts-pid", "no process 999999999");
    }

    @Test
    void aMissingRootfsIsAClearError() {
        assertStageFailed(STAGE.run("--rootfs", "/no/such/rootfs"), "02-uts-pid", "rootfs not found");
    }
}
