package workbook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The class-data archive scripts/archives makes for a stage: the parent and init both map it,
 * the launcher passes it only while it is newer than the stage's jar, a bad one costs nothing but
 * time, and two runs of scripts/archives at once take turns. Each JVM says where each class came
 * from (-Xlog:class+load, one file per process): "shared objects file" is the archive.
 */
@RootOnly
@ExtendWith(NothingLeftBehind.class)
class StartupArchiveTest {

    static final String STAGE = "02-uts-pid";
    Path archive;

    @BeforeEach
    void archiveIsUpToDate() {
        Stage.Result made = Host.run(Stage.WORKBOOK, Duration.ofMinutes(3), List.of("scripts/archives", "02"));
        assertEquals(0, made.exit(), made::toString);
        String jar = Host.run("jbang", "info", "jar", "stages/" + STAGE + "/Main.java").out().strip();
        archive = Path.of(jar.replaceAll("\\.jar$", ".jsa"));
        assertTrue(Files.isRegularFile(archive), "scripts/archives wrote no " + archive);
    }

    @Test
    void theParentAndInitBothMapTheArchive(@TempDir Path logs) throws IOException {
        Stage.Result r = runLogged(logs);
        assertEquals(0, r.exit(), r::toString);
        String parent = logOf(logs, false), init = logOf(logs, true);
        assertTrue(parent.contains("container.Main source: shared objects file"), "the parent loaded Main from its jar, not the archive");
        assertTrue(init.contains("container.Main source: shared objects file"), "init loaded Main from its jar, not the archive");
        assertTrue(init.contains("container.Init source: shared objects file"), "init's own classes are not in the archive");
    }

    @Test
    void anArchiveOlderThanTheJarIsLeftOutAndTheJdksOwnIsKept(@TempDir Path logs) throws IOException {
        FileTime made = Files.getLastModifiedTime(archive);
        Files.setLastModifiedTime(archive, FileTime.from(Instant.parse("2000-01-01T00:00:00Z")));
        try {
            Stage.Result r = runLogged(logs);
            assertEquals(0, r.exit(), r::toString);
            String parent = logOf(logs, false);
            assertFalse(parent.contains("container.Main source: shared objects file"), "a stale archive was used");
            assertTrue(parent.contains("java.lang.Object source: shared objects file"), "the JDK's own archive was dropped too");
        } finally {
            Files.setLastModifiedTime(archive, made);
        }
    }

    @Test
    void aBrokenArchiveIsIgnoredWithoutAWord() throws IOException {
        Path aside = archive.resolveSibling("Main.jsa.kept");
        Files.move(archive, aside);
        try {
            Files.writeString(archive, "not an archive");
            Stage.Result r = Stage.of(STAGE).run("--quiet", "--hostname", "box", "--", "/bin/hostname");
            assertEquals(0, r.exit(), r::toString);
            assertEquals("box", r.out().strip());
            assertEquals("", r.err(), "the JVM complained about the archive");
        } finally {
            Files.move(aside, archive, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    void aStaleArchiveIsMadeAgainOnceThoughTwoRunsAskAtOnce() throws Exception {
        Files.setLastModifiedTime(archive, FileTime.from(Instant.parse("2000-01-01T00:00:00Z")));
        ProcessBuilder archives = new ProcessBuilder("scripts/archives", "02").directory(Stage.WORKBOOK.toFile())
                .redirectErrorStream(true);
        Process first = archives.start(), second = archives.start();
        String one = new String(first.getInputStream().readAllBytes()), two = new String(second.getInputStream().readAllBytes());
        assertEquals(0, first.waitFor(), one);
        assertEquals(0, second.waitFor(), two);
        String both = one + two;
        assertEquals(1, both.lines().filter(l -> l.contains(" for JDK ")).count(), "the archive should be made once:\n" + both);
        assertEquals(1, both.lines().filter(l -> l.endsWith("up to date")).count(), "the other run should find it made:\n" + both);
        Stage.Result check = Host.run(Stage.WORKBOOK, Duration.ofMinutes(3), List.of("scripts/archives", "02"));
        assertTrue(check.out().contains("up to date"), "the new archive is not one the JVM can map:\n" + check);
    }

    /** A quick run of the stage whose JVMs (the launcher's, the parent's, init's) each log the classes they load. */
    private Stage.Result runLogged(Path logs) {
        return Stage.of(STAGE).env("JDK_JAVA_OPTIONS", "-Xlog:class+load=info:file=" + logs + "/%p.log")
                .run("--quiet", "--", "/bin/true");
    }

    /** The log of init (PID 1 in its namespace, so 1.log) or of the parent (the other one that loaded Main). */
    private static String logOf(Path logs, boolean init) throws IOException {
        try (Stream<Path> files = Files.list(logs)) {
            for (Path log : files.toList()) {
                String text = Files.readString(log);
                boolean isInit = log.getFileName().toString().equals("1.log");
                if (text.contains("container.Main ") && isInit == init) return text;
            }
        }
        return fail("no log of the " + (init ? "init" : "parent") + " JVM in " + logs);
    }
}
