package workbook;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;
import static workbook.Failures.assertStageFailed;

@RootOnly
@ExtendWith(NothingLeftBehind.class)
class ChrootStageTest {
    static final Stage STAGE = Stage.of("01-chroot");

    @TempDir
    Path tmp;

    @Test
    @Lesson("libraries")
    @DisplayName("the jail's root holds only what was copied")
    void theJailsRootHoldsOnlyWhatWasCopied() throws Exception {
        Stage.Result r = STAGE.run("--copy", "ls", "--", "/bin/ls", "-a", "/");

        assertEquals(0, r.exit(), r::toString);
        Set<String> expected = new TreeSet<>(Set.of("bin"));
        for (Path library : libraries("/bin/bash", "/usr/bin/ls")) expected.add(library.getName(0).toString());
        Set<String> seen = r.outLines().stream().filter(n -> !n.equals(".") && !n.equals("..")).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(expected, seen);
    }

    @Test
    @Lesson("libraries")
    @DisplayName("the jail holds the programs and exactly the libraries ldd lists")
    void theJailHoldsTheProgramsAndExactlyTheLibrariesLddLists() throws Exception {
        Path jail = tmp.resolve("jail");
        Stage.Result r = STAGE.run("--jail", jail.toString(), "--copy", "/usr/bin/ls", "--", "/bin/bash", "-c", "exit 0");

        assertEquals(0, r.exit(), r::toString);
        Set<String> expected = new TreeSet<>(Set.of("bin/bash", "bin/ls"));
        for (Path library : libraries("/bin/bash", "/usr/bin/ls")) expected.add(library.toString().substring(1));
        assertEquals(expected, filesUnder(jail));
    }

    @Test
    @Lesson("chroot")
    @DisplayName("the command runs inside the jail")
    void theCommandRunsInsideTheJail() throws Exception {
        Path jail = tmp.resolve("jail");
        Stage.Result r = STAGE.run("--jail", jail.toString(), "--", "/bin/bash", "-c", "echo written-inside > /proof; echo $PWD");

        assertEquals(0, r.exit(), r::toString);
        assertEquals("/", r.out().strip(), "the working directory inside");
        // What the command wrote at "/" landed in the jail directory on the host.
        assertEquals("written-inside\n", Files.readString(jail.resolve("proof")));
    }

    @Test
    void theExitStatusIsTheCommands() {
        assertEquals(7, STAGE.run("--", "/bin/bash", "-c", "exit 7").exit());
    }

    @Test
    @Lesson("chroot")
    @DisplayName("--rootfs chroots into the busybox root")
    void rootfsChrootsIntoTheBusyboxRoot() throws Exception {
        Stage.Result r = STAGE.run("--rootfs", "--", "/bin/ls", "/");

        assertEquals(0, r.exit(), r::toString);
        assertEquals(namesIn(Stage.ROOTFS), new TreeSet<>(r.outLines()));
        assertEquals("/bin/busybox", STAGE.run("--rootfs", "--", "/bin/readlink", "-f", "/bin/ls").out().strip());
    }

    @Test
    @Lesson("escape")
    @DisplayName("the escape reaches a file that exists only outside the jail")
    void theEscapeReachesAFileThatExistsOnlyOutsideTheJail() throws Exception {
        String token = "only-on-the-host-" + UUID.randomUUID();
        Path secret = Files.writeString(tmp.resolve("secret"), token);

        // busybox has cat, but the file is not in its root: inside, cat can't find it ...
        Stage.Result jailed = STAGE.run("--rootfs", "--", "/bin/cat", secret.toString());
        assertNotEquals(0, jailed.exit(), jailed::toString);
        assertFalse(jailed.out().contains(token));

        // ... until the double chroot climbs out.
        Stage.Result escaped = STAGE.run("--rootfs", "--escape", "--", "/bin/cat", secret.toString());
        assertEquals(0, escaped.exit(), escaped::toString);
        assertEquals(token, escaped.out().strip());
        assertFalse(Files.exists(Stage.ROOTFS.resolve("breakout")), "the escape's directory is removed from the rootfs");

        // The bash-only jail has no cat at all: running the host's is proof of being out.
        assertEquals(token, STAGE.run("--escape", "--", "/bin/cat", secret.toString()).out().strip());
    }

    @Test
    @Lesson("chroot")
    @DisplayName("the host sees the command's root; a signal to the stage ends it")
    void theHostSeesTheCommandsRootAndASignalToTheStageEndsIt() {
        try (Stage.Running running = STAGE.start("--rootfs", "--", "/bin/sh", "-c", "echo started; exec sleep 600")) {
            running.awaitOutput("started", Duration.ofSeconds(60));

            // The kernel shows every process's root directory as /proc/PID/root.
            long command = running.process().children().findFirst().orElseThrow().pid();
            assertEquals(Stage.ROOTFS.toString(), Host.run("readlink", "/proc/" + command + "/root").out().strip());
            assertEquals("/", Host.run("readlink", "/proc/" + running.pid() + "/root").out().strip(), "the stage itself keeps the host's root");

            Host.run("kill", "-TERM", Long.toString(running.pid()));
            Stage.Result r = running.finish(Duration.ofSeconds(20));
            assertEquals(128 + 15, r.exit(), r::toString);
        }
    }

    @Test
    void aCommandLeftByAKilledStageIsStoppedByTheNextRun() {
        long orphan = orphanOfAKilledRun("--rootfs", "--", "/bin/sh", "-c", "echo ready; exec sleep 600");

        Stage.Result next = STAGE.run("--rootfs", "--", "/bin/true");
        assertEquals(0, next.exit(), next::toString);
        assertTrue(next.err().contains("stopping process " + orphan + ", which a killed run"), next::toString);
        assertTrue(Host.awaitGone(orphan, Duration.ofSeconds(60)), "the orphan is stopped");
    }

    @Test
    void aCommandLeftByAKilledStageIsStoppedByResetBeforeItsJailGoes() {
        long orphan = orphanOfAKilledRun("--copy", "sleep", "--", "/bin/bash", "-c", "echo ready; exec sleep 600");

        Stage.Result reset = Host.run("scripts/reset");
        assertTrue(reset.out().contains("stopped process " + orphan), reset::toString);
        assertTrue(reset.out().indexOf("stopped process") < reset.out().indexOf("removed stage 01's jail"), reset::toString);
        assertTrue(Host.awaitGone(orphan, Duration.ofSeconds(60)), "the orphan is stopped");
    }

    /** SIGKILL to the stage runs no cleanup: its command lives on, chrooted, adopted by init. */
    long orphanOfAKilledRun(String... args) {
        try (Stage.Running running = STAGE.start(args)) {
            running.awaitOutput("ready", Duration.ofSeconds(60));
            long command = running.child(Duration.ofSeconds(10));
            // Killed once it has written its command down: the record follows the spawn by a few
            // milliseconds, which a test that kills as soon as the command speaks can beat.
            Path record = Path.of("/run/workbook/01-chroot." + running.pid());
            for (int i = 0; i < 200 && !Files.exists(record); i++) Host.pause(50);
            assertTrue(Files.exists(record), "the stage records its command in " + record);
            running.signal("KILL");
            running.finish(Duration.ofSeconds(30));
            assertTrue(ProcessHandle.of(command).isPresent(), "the command outlived its stage");
            return command;
        }
    }

    @Test
    void aProgramThatDoesNotExistIsAClearError() {
        assertStageFailed(STAGE.run("--copy", "no-such-program"), "01-chroot", "no such program on this machine: no-such-program");
    }

    @Test
    void aCommandMissingFromTheJailIsAClearError() {
        assertStageFailed(STAGE.run("--", "/bin/ls", "/"), "01-chroot", "no such command in the jail: /bin/ls");
    }

    @Test
    void aMissingRootfsIsAClearError() {
        assertStageFailed(STAGE.run("--rootfs", tmp.resolve("nowhere").toString()), "01-chroot", "rootfs not found");
    }

    @Test
    void aBadOptionIsAClearError() {
        assertStageFailed(STAGE.run("--no-such-option"), "01-chroot", "Unknown option");
    }

    /** The files ldd names for these programs, as the test reads them itself. */
    static Set<Path> libraries(String... programs) {
        Set<Path> libraries = new TreeSet<>();
        for (String program : programs)
            for (String word : Host.run("ldd", program).out().split("\\s+"))
                if (word.startsWith("/")) libraries.add(Path.of(word));
        return libraries;
    }

    static Set<String> filesUnder(Path dir) throws Exception {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).map(f -> dir.relativize(f).toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    static Set<String> namesIn(Path dir) throws Exception {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
