package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

/**
 * Stage 07: what root inside may not do. The capability sets, no_new_privs and the seccomp
 * mode are read from the host in /proc/PID/status of the container's command; what the
 * command is refused is seen from the host too (its hostname, its mounts). Most runs are an
 * ordinary user's; root's build stage 05's bridge, so they run in a NetworkLab.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class CapsSeccompStageTest {
    static final String NAME = "07-caps-seccomp";
    static final Stage STAGE = Stage.of(NAME);
    static final TestUser LEARNER = TestUser.LEARNER;
    static final Stage ROOTLESS = STAGE.as(LEARNER).limit(Duration.ofMinutes(3));
    static final Duration START = Duration.ofSeconds(90);
    /** Docker's fourteen: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
    static final String DOCKER_DEFAULT = "00000000a80425fb";
    static final String NONE = "0000000000000000";
    static final String SYS_ADMIN = String.format("%016x", 1L << 21);

    /** The container's command, waiting, and its /proc/PID/status as the host reads it. */
    static Map<String, String> statusOfCommand(Stage stage, String... options) {
        List<String> args = new java.util.ArrayList<>(List.of(options));
        args.addAll(List.of("-q", "--", "/bin/sh", "-c", "echo ready; exec sleep 600"));
        try (Stage.Running running = stage.start(args.toArray(String[]::new))) {
            running.awaitOutput("ready", START);
            long command = running.container(START);
            Map<String, String> status = status(command);
            running.end();
            return status;
        }
    }

    static Map<String, String> status(long pid) {
        return Host.read(Path.of("/proc/" + pid + "/status")).lines().filter(l -> l.contains(":\t"))
                .collect(Collectors.toMap(l -> l.substring(0, l.indexOf(':')), l -> l.substring(l.indexOf('\t') + 1).strip()));
    }

    @TempDir
    Path tmp;

    @BeforeEach
    void letEveryoneThroughTheTestsDirectory() throws Exception {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    static String every() {
        long last = Long.parseLong(Host.run("cat", "/proc/sys/kernel/cap_last_cap").out().strip());
        return String.format("%016x", (1L << (last + 1)) - 1);
    }

    @Test
    @Lesson("bounding-set")
    @AlsoAsLearner
    @DisplayName("the bounding set is Docker's default fourteen")
    void theBoundingSetIsDockersDefault() {
        assertEquals(DOCKER_DEFAULT, statusOfCommand(ROOTLESS).get("CapBnd"));
    }

    @Test
    @Lesson("bounding-set")
    @AlsoAsLearner
    @DisplayName("hostname fails inside without CAP_SYS_ADMIN, and works with --cap-add SYS_ADMIN")
    void sethostnameNeedsSysAdmin() {
        Stage.Result refused = ROOTLESS.run("-q", "--hostname", "given", "--", "/bin/sh", "-c", "hostname other; hostname");
        assertEquals("given", refused.out().strip(), "--hostname still works: init sets it before it drops anything\n" + refused);
        assertTrue(refused.err().contains("hostname: sethostname: Operation not permitted"), refused::toString);

        try (Stage.Running running = ROOTLESS.start("-q", "--cap-add", "SYS_ADMIN", "--", "/bin/sh", "-c", "hostname other && echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long command = running.container(START);
            assertEquals("other", Host.inNamespaceOf(command, "-u", "hostname").out().strip(), "the container's UTS namespace, from the host");
            assertEquals(String.format("%016x", Long.parseLong(DOCKER_DEFAULT, 16) | 1L << 21), status(command).get("CapBnd"));
            running.end();
        }
    }

    @Test
    @Lesson("capset")
    @AlsoAsLearner
    @DisplayName("the command's effective and permitted sets are the default, its inheritable and ambient sets empty")
    void theCommandHoldsTheDefaultSetAndPassesNothingOn() {
        Map<String, String> status = statusOfCommand(ROOTLESS);
        assertEquals(DOCKER_DEFAULT, status.get("CapEff"));
        assertEquals(DOCKER_DEFAULT, status.get("CapPrm"));
        assertEquals(NONE, status.get("CapInh"), "what execve would give root back");
        assertEquals(NONE, status.get("CapAmb"));
    }

    @Test
    @Lesson("capset")
    @AlsoAsLearner
    @DisplayName("root inside reads a file of mode 000 with CAP_DAC_OVERRIDE, and not after --cap-drop DAC_OVERRIDE")
    void capDropTakesAwayWhatRootCouldDo() throws Exception {
        Path volume = LEARNER.owns(Files.createDirectory(tmp.resolve("volume")));
        Path locked = LEARNER.owns(Files.writeString(volume.resolve("locked"), "read anyway"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("---------"));
        String show = "cat /mnt/locked || echo refused";

        Stage.Result kept = ROOTLESS.run("-q", "--volume", volume + ":/mnt", "--", "/bin/sh", "-c", show);
        assertEquals("read anyway", kept.out().strip(), kept::toString);
        Stage.Result dropped = ROOTLESS.run("-q", "--volume", volume + ":/mnt", "--cap-drop", "DAC_OVERRIDE", "--", "/bin/sh", "-c", show);
        assertEquals("refused", dropped.out().strip(), dropped::toString);
        assertTrue(dropped.err().contains("Permission denied"), dropped::toString);
    }

    @Test
    void capDropAllLeavesNothing() {
        Map<String, String> status = statusOfCommand(ROOTLESS, "--cap-drop", "ALL");
        assertEquals(NONE, status.get("CapBnd"));
        assertEquals(NONE, status.get("CapEff"));
    }

    @Test
    void capAddAllKeepsEveryCapabilityTheDropsExcepted() {
        Map<String, String> status = statusOfCommand(ROOTLESS, "--cap-add", "ALL", "--cap-drop", "cap_sys_admin", "--security-opt", "seccomp=unconfined");
        String expected = String.format("%016x", Long.parseLong(every(), 16) & ~(1L << 21));
        assertEquals(expected, status.get("CapEff"));
        assertEquals(expected, status.get("CapBnd"));
        assertEquals("0", status.get("Seccomp"));
        assertEquals("1", status.get("NoNewPrivs"), "set either way");
    }

    @Test
    @Lesson("install-filter")
    @AlsoAsLearner
    @DisplayName("from the host, the command has no_new_privs and a seccomp filter")
    void theCommandRunsFiltered() {
        Map<String, String> status = statusOfCommand(ROOTLESS);
        assertEquals("1", status.get("NoNewPrivs"));
        assertEquals("2", status.get("Seccomp"), "2: SECCOMP_MODE_FILTER");
        if (status.containsKey("Seccomp_filters")) assertEquals("1", status.get("Seccomp_filters"));
    }

    @Test
    @Lesson("seccomp-filter")
    @AlsoAsLearner
    @DisplayName("unshare and mount fail with EPERM even with CAP_SYS_ADMIN; the shell and its tools still work")
    void theFilterRefusesNamespacesAndMounts() {
        try (Stage.Running running = ROOTLESS.start("-q", "--cap-add", "SYS_ADMIN", "--", "/bin/sh", "-c",
                "unshare -U true || echo no-unshare; mount -t tmpfs none /mnt || echo no-mount; ls /bin/busybox; echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long command = running.container(START);
            String output = running.output();
            assertTrue(output.lines().toList().containsAll(List.of("no-unshare", "no-mount", "/bin/busybox", "ready")), output);
            assertTrue(output.contains("unshare(0x10000000): Operation not permitted"), output);
            assertEquals(SYS_ADMIN, String.format("%016x", Long.parseLong(status(command).get("CapEff"), 16) & 1L << 21), "the capability was there");
            assertFalse(Host.read(Path.of("/proc/" + command + "/mountinfo")).contains(" /mnt "), "nothing mounted on /mnt, as the host sees it");
            running.end();
        }
    }

    @Test
    @DisplayName("a call through the processor's 32-bit door is killed, not judged by its number in the 64-bit table")
    void aCallOfAnotherArchitectureIsKilled() throws Exception {
        // ForeignCall's program asks for a user namespace by its 32-bit number, which in this
        // processor's 64-bit table is an allowed call (x86-64) or none at all (arm64).
        Path volume = Files.createDirectory(tmp.resolve("foreign"));
        ForeignCall.write(volume.resolve("call"));
        String show = "/mnt/call; echo exit $?";
        Stage.Result unconfined = ROOTLESS.run("-q", "--volume", volume + ":/mnt", "--security-opt", "seccomp=unconfined", "--", "/bin/sh", "-c", show);
        assertEquals("exit 0", unconfined.out().strip(), "with no filter the call is made: a user namespace; " + unconfined);
        Stage.Result filtered = ROOTLESS.run("-q", "--volume", volume + ":/mnt", "--", "/bin/sh", "-c", show);
        assertEquals("exit 159", filtered.out().strip(), "killed by SIGSYS (128 + 31); " + filtered);
    }

    @Test
    void unconfinedTheMountWorks() { // with no filter, whether the lesson is written or not
        try (Stage.Running running = ROOTLESS.start("-q", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--", "/bin/sh", "-c",
                "mount -t tmpfs none /mnt && echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long command = running.container(START);
            assertTrue(Host.read(Path.of("/proc/" + command + "/mountinfo")).lines().anyMatch(l -> l.contains(" /mnt ") && l.contains(" - tmpfs ")),
                    "the container's tmpfs, in its own mount namespace");
            assertFalse(Host.mountinfo().stream().anyMatch(l -> l.contains(" - tmpfs none ")), "and not the host's");
            running.end();
        }
    }

    @Test
    void aUserOtherThanRootKeepsTheBoundingSetAndHoldsNothing() {
        try (NetworkLab lab = NetworkLab.create()) {
            Stage root = lab.stage(STAGE.asRootFromCopyOf(LEARNER));
            Map<String, String> status = statusOfCommand(root, "--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536", "--user", "1000");
            assertEquals("101000", status.get("Uid").split("\\s+")[0]);
            assertEquals(DOCKER_DEFAULT, status.get("CapBnd"));
            assertEquals(NONE, status.get("CapEff"));
            assertEquals(NONE, status.get("CapPrm"));
            assertEquals("2", status.get("Seccomp"));
        }
    }

    @Test
    void execRefusesToGiveMoreThanTheContainerHasUnlessPrivileged() {
        try (Stage.Running running = ROOTLESS.start("-q", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            String command = Long.toString(running.container(START));
            assertStageFailed(STAGE.as(LEARNER).run("exec", command, "--", "/bin/true"), NAME,
                    "runs with fewer capabilities (CapBnd " + DOCKER_DEFAULT + ") and a seccomp filter");
            Stage.Result privileged = STAGE.as(LEARNER).run("exec", "--privileged", "-q", command, "--", "/bin/sh", "-c", "hostname entered; hostname");
            assertEquals("entered", privileged.out().strip(), privileged::toString);
            running.end();
        }
    }

    @Test
    void badCapabilitiesAndSecurityOptionsAreClearErrors() {
        assertStageFailed(ROOTLESS.run("--cap-add", "SYS_EVERYTHING", "--", "/bin/true"), NAME, "--cap-add SYS_EVERYTHING: no such capability");
        assertStageFailed(ROOTLESS.run("--cap-drop", "", "--", "/bin/true"), NAME, "--cap-drop needs a value");
        assertStageFailed(ROOTLESS.run("--security-opt", "apparmor=unconfined", "--", "/bin/true"), NAME, "this stage takes only seccomp=unconfined");
    }
}
