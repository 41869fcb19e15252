package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

/**
 * Stage 06 run by an ordinary user (uid 1000, no sudo), and by root with a uid map. Root's runs
 * build stage 05's bridge, so they run in a NetworkLab, never on the machine's own network.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class UserNsStageTest {
    static final Stage STAGE = Stage.of("06-user-ns");
    static final TestUser LEARNER = TestUser.LEARNER;
    static final Stage ROOTLESS = STAGE.as(LEARNER).limit(Duration.ofMinutes(3));
    static final Duration START = Duration.ofSeconds(90);

    @TempDir
    Path tmp;

    @BeforeEach
    void letEveryoneThroughTheTestsDirectory() throws Exception {
        // The learner, and root inside a remapped container, must reach the volumes made here.
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    @Lesson("id-maps")
    @AlsoAsLearner
    @DisplayName("an ordinary user is root inside and themselves outside")
    void anOrdinaryUserIsRootInsideAndThemselvesOutside() {
        String host = Host.hostname();
        try (Stage.Running running = ROOTLESS.start("-q", "--hostname", "mine", "--", "/bin/sh", "-c",
                "id -u; cat /proc/self/uid_map; hostname; echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.container(START);

            int uid = LEARNER.uid();
            assertEquals(List.of("0", "0 " + uid + " 1", "mine", "ready"), words(running.output()).subList(0, 4));
            // From the host, the same process is the learner, in namespaces of its own, the user namespace first.
            assertTrue(Host.read(Path.of("/proc/" + init + "/status")).contains("\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"));
            assertEquals("0 " + uid + " 1", Host.read(Path.of("/proc/" + init + "/uid_map")).strip().replaceAll("\\s+", " "));
            for (String kind : List.of("user", "uts", "pid", "ipc", "mnt", "net"))
                assertNotEquals(Host.namespace("self", kind), Host.namespace(init, kind), kind + " namespace of the container");
            assertEquals("mine", Host.inNamespaceOf(init, "-u", "hostname").out().strip());
            assertEquals(host, Host.hostname());
            // exec joins it, user namespace first, without sudo.
            Stage.Result exec = STAGE.as(LEARNER).run("exec", "-q", Long.toString(init), "--", "/bin/sh", "-c", "id -u; hostname");
            assertEquals(List.of("0", "mine"), exec.outLines(), exec::toString);

            assertEquals(128 + 9, running.end().exit(), "sleep, as PID 1, ignores SIGTERM: the grace period ends in SIGKILL");
        }
    }

    @Test
    @Lesson("id-maps")
    @AlsoAsLearner
    @DisplayName("a file made inside a volume belongs to the user on the host")
    void aFileMadeInsideAVolumeBelongsToTheUserOnTheHost() throws Exception {
        Path volume = LEARNER.owns(Files.createDirectory(tmp.resolve("volume")));

        Stage.Result r = ROOTLESS.run("-q", "--volume", volume + ":/mnt", "--", "/bin/sh", "-c", "echo hello > /mnt/made-inside; stat -c %u /mnt/made-inside");

        assertEquals(0, r.exit(), r::toString);
        assertEquals("0", r.out().strip(), "root's, inside");
        assertEquals(LEARNER.uid(), Files.getAttribute(volume.resolve("made-inside"), "unix:uid"), "the learner's, outside");
    }

    @Test
    @Lesson("id-maps")
    @AlsoAsLearner
    @DisplayName("root inside cannot read a root-only file of the host")
    void rootInsideCannotReadARootOnlyFileOfTheHost() {
        // The host's /etc, given as a volume: its files are the host root's, and root inside is not.
        Stage.Result r = ROOTLESS.run("-q", "--volume", "/etc:/mnt", "--", "/bin/sh", "-c", "stat -c %u /mnt/shadow; cat /mnt/shadow || echo refused");

        assertEquals(List.of("65534", "refused"), r.outLines(), r::toString); // the host's root is unmapped: the overflow uid
        assertTrue(r.err().contains("Permission denied"), r::toString);
        assertFalse(r.out().contains("root:"), "not a line of the host's /etc/shadow");
    }

    @Test
    void rootInsideHasEveryCapabilityInItsNamespacesAndNoneOverTheHost() {
        Stage.Result r = ROOTLESS.run("-q", "--", "/bin/sh", "-c",
                "grep CapEff /proc/self/status; hostname renamed && hostname; date -s '2001-01-01 00:00'; mknod /tmp/null c 1 3 || echo no device");

        long lastCapability = Long.parseLong(Host.run("cat", "/proc/sys/kernel/cap_last_cap").out().strip());
        String everyCapability = String.format("CapEff:\t%016x", (1L << (lastCapability + 1)) - 1);
        assertEquals(List.of(everyCapability, "renamed"), r.outLines().subList(0, 2), r::toString);
        // ... but the clock and the devices belong to the host's user namespace: EPERM.
        assertTrue(r.err().contains("can't set date: Operation not permitted"), r::toString);
        assertEquals("no device", r.outLines().get(r.outLines().size() - 1), r::toString);
        assertTrue(r.err().contains("mknod: /tmp/null: Operation not permitted"), r::toString);
        assertTrue(java.time.Year.now().getValue() > 2001);
    }

    @Test
    void theStageShowsTheJvmsEinvalAndStartsWithoutABridge() {
        Stage.Result r = ROOTLESS.run("--", "/bin/sh", "-c", "ip -o link | cut -d: -f2");

        assertEquals(0, r.exit(), r::toString);
        assertEquals(" lo", r.out().stripTrailing(), "loopback only, and up");
        assertTrue(r.err().contains("[parent] unshare(CLONE_NEWUSER) = -1 EINVAL (Invalid argument)"), r::toString);
        assertTrue(r.err().contains("[parent] cgroup: none, no limit was asked for"), r::toString);
        assertTrue(r.err().contains("[parent] network: loopback only"), r::toString);
    }

    @Test
    void inAGroupSystemdDelegatedToTheLearnerTheLimitsApply() throws Exception {
        // A directory laid out like the learner's cgroup in a v2 tree (this machine's cpu controller is on v1).
        Path fs = LEARNER.owns(Files.createDirectory(tmp.resolve("cgroup2")));
        Path own = fs.resolve(ownCgroup());
        for (Path dir = own; !dir.equals(fs); dir = dir.getParent()) Files.createDirectories(dir);
        LEARNER.owns(own);
        Files.writeString(own.resolve("cgroup.controllers"), "cpu io memory pids\n");
        LEARNER.owns(Files.writeString(own.resolve("cgroup.subtree_control"), ""));

        Stage.Result r = ROOTLESS.run("--cgroup-fs", fs.toString(), "--memory", "64m", "--pids-limit", "50", "--", "/bin/true");

        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("[parent] cgroup v2, delegated to you by systemd: " + own), r::toString);
        assertTrue(Host.read(own.resolve("parent/cgroup.procs")).matches("\\d+"), "the parent moved into a leaf first");
        assertEquals("+memory +pids", Host.read(own.resolve("cgroup.subtree_control")));
        Path group = CgroupCpuStageTest.onlyDirectoryIn(own.resolve("workbook"));
        assertEquals(Long.toString(64 << 20), Host.read(group.resolve("memory.max")));
        assertEquals("50", Host.read(group.resolve("pids.max")));
        assertTrue(Host.read(group.resolve("cgroup.procs")).matches("\\d+"), "init was moved in");
    }

    @Test
    void limitsWithoutADelegatedGroupAreAClearError() throws Exception {
        Path fs = Files.createDirectory(tmp.resolve("cgroup2")); // root's, not the learner's
        Files.createDirectories(fs.resolve(ownCgroup()));
        assertStageFailed(ROOTLESS.run("--cgroup-fs", fs.toString(), "--memory", "64m", "--", "/bin/true"), "06-user-ns",
                "an ordinary user may create cgroups only in a cgroup v2 group systemd delegated to them");
    }

    /** The test's own cgroup v2 group, which the stages it starts are in too ("" for the root). */
    static String ownCgroup() {
        return Host.read(Path.of("/proc/self/cgroup")).lines().filter(l -> l.startsWith("0::")).findFirst().orElseThrow().substring(4);
    }

    @Test
    @Lesson("switch-user")
    @DisplayName("with a range mapped by root, --user 1000 inside is 101000 outside")
    void withARangeMappedByRootUser1000InsideIs101000Outside() throws Exception {
        Path volume = Files.createDirectory(tmp.resolve("volume"));
        Files.setPosixFilePermissions(volume, PosixFilePermissions.fromString("rwxrwxrwx"));

        try (NetworkLab lab = NetworkLab.create()) {
            // From the learner's copy of the workbook, which uid 100000 can reach wherever this one is.
            Stage.Result r = lab.stage(STAGE.asRootFromCopyOf(LEARNER)).run("-q", "--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536",
                    "--user", "1000", "--volume", volume + ":/data", "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; touch /data/made-by-1000");

            assertEquals(0, r.exit(), r::toString);
            assertEquals(List.of("1000", "0 100000 65536"), words(r.out()));
            assertEquals(101000, Files.getAttribute(volume.resolve("made-by-1000"), "unix:uid"));
            assertEquals(101000, Files.getAttribute(volume.resolve("made-by-1000"), "unix:gid"));
        }
    }

    @Test
    void quietStaysQuietWhenTheContainerIsKilled() {
        for (String signal : List.of("INT", "TERM")) {
            // SIGINT not ignored, as a terminal's Ctrl-C: see UtsPidStageTest.ctrlCToTheStageEndsTheContainer.
            try (Stage.Running running = ROOTLESS.alsoWrappedIn("env", "--default-signal=INT").start("-q", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
                running.awaitOutput("ready", START);
                running.container(START);
                running.signal(signal);
                Stage.Result r = running.finish(Duration.ofSeconds(30));
                assertEquals(128 + 9, r.exit(), r::toString);
                assertEquals("", r.err(), () -> "nothing on stderr after SIG" + signal + ":\n" + r);
            }
        }
    }

    @Test
    @Lesson("switch-user")
    @AlsoAsLearner
    @DisplayName("killing the stage kills the container")
    void killingTheStageKillsTheContainer() {
        try (Stage.Running running = ROOTLESS.start("-q", "--", "/bin/sh", "-c", "echo ready; exec sleep 600")) {
            running.awaitOutput("ready", START);
            long init = running.container(START);

            running.signal("KILL"); // the parent cleans nothing up ...
            running.finish(Duration.ofSeconds(30));
            assertTrue(Host.awaitGone(init, Duration.ofSeconds(60)), "the parent-death signal reaches init through setpriv and unshare");
        }
        assertEquals(0, ROOTLESS.run("-q", "--", "/bin/true").exit()); // ... the next run forgets the crashed run's record
    }

    @Test
    void mapsAnOrdinaryUserMayNotWriteAreClearErrors() {
        assertStageFailed(ROOTLESS.run("--uid-map", "0:100000:65536", "--", "/bin/true"), "06-user-ns", "an ordinary user may map one ID only, their own (1000)");
        assertStageFailed(ROOTLESS.run("--cpus", "0.5", "--", "/bin/true"), "06-user-ns", "need a cgroup");
        assertStageFailed(ROOTLESS.run("--ip", "10.213.0.9/24", "--", "/bin/true"), "06-user-ns", "--ip needs the bridge wb0");
        assertStageFailed(ROOTLESS.run("--user", "1000", "--", "/bin/true"), "06-user-ns", "uid 1000 is not mapped inside");
    }

    @Test
    void execIntoAProcessThatIsNotTheLearnersIsAClearError() {
        assertStageFailed(STAGE.as(LEARNER).run("exec", "1", "--", "/bin/true"), "06-user-ns", "process 1 is not yours");
    }

    @Test
    void badMapsAreClearErrorsAndCreateNothing() {
        assertStageFailed(STAGE.run("--uid-map", "0:100000", "--", "/bin/true"), "06-user-ns", "expected CONTAINER:HOST:COUNT");
        assertStageFailed(STAGE.run("--uid-map", "0:100000:0", "--", "/bin/true"), "06-user-ns", "COUNT must be at least 1");
        assertStageFailed(STAGE.run("--uid-map", "0:100000:100", "--uid-map", "50:300000:10", "--", "/bin/true"), "06-user-ns", "overlaps 0:100000:100");
        assertStageFailed(STAGE.run("--uid-map", "0:100000:100", "--uid-map", "100:100050:10", "--", "/bin/true"), "06-user-ns", "overlaps 0:100000:100");
        assertStageFailed(STAGE.run("--gid-map", "1:100000:10", "--", "/bin/true"), "06-user-ns", "nothing is mapped to 0 inside");
        assertStageFailed(STAGE.run("--user", "me", "--", "/bin/true"), "06-user-ns", "expected UID or UID:GID");
    }

    @Test
    void userNamespacesSwitchedOffAreAClearErrorThatNamesTheSetting() {
        // max_user_namespaces counts per user namespace: set to 0 in one of the test's own, it
        // switches user namespaces off for the stage and for nothing else on the machine.
        Stage.Result r = STAGE.wrappedIn("unshare", "--user", "--map-root-user", "sh", "-c",
                "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"", "sh").run("--", "/bin/true");
        assertStageFailed(r, "06-user-ns", "user namespaces are disabled: user.max_user_namespaces is 0");
    }

    @Test
    void aCommandMissingFromTheContainerIsAClearError() {
        assertStageFailed(ROOTLESS.run("--", "/no/such/command"), "06-user-ns", "no such command in the container: /no/such/command");
    }

    /** Output split into trimmed lines with runs of blanks made one, as uid_map pads its columns. */
    static List<String> words(String text) {
        return text.lines().map(l -> l.strip().replaceAll("\\s+", " ")).toList();
    }
}
